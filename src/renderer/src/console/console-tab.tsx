import { useEffect, useLayoutEffect, useRef, useState } from 'react';
import type { AppErrorInfo } from '../../../shared/app-contract';
import { useAppServices } from '../app/app-services';
import type { ListedSandbox } from '../stores/sandboxes-store';

/** Older output is dropped past this, so a chatty guest cannot grow the page without bound. */
const MAX_CHARS = 256 * 1024;
/** Within this many pixels of the bottom counts as at the bottom. */
const STICKY_PX = 24;

type Ending = { error: AppErrorInfo | null } | null;

/** The serial console, following new output unless the user scrolled up to read. */
export function ConsoleTab({ sandbox }: { sandbox: ListedSandbox }) {
  const { api } = useAppServices();
  const [text, setText] = useState('');
  const [ending, setEnding] = useState<Ending>(null);
  const log = useRef<HTMLPreElement>(null);
  const following = useRef(true);

  useEffect(() => {
    setText('');
    setEnding(null);
    return api.followConsole(
      sandbox.id,
      (chunk) => setText((current) => (current.length + chunk.length > MAX_CHARS ? (current + chunk).slice(-MAX_CHARS) : current + chunk)),
      (error) => setEnding({ error }),
    );
  }, [api, sandbox.id]);

  useLayoutEffect(() => {
    const element = log.current;
    if (element && following.current) element.scrollTop = element.scrollHeight;
  }, [text]);

  return (
    <div className="console-tab">
      <pre
        ref={log}
        role="log"
        aria-label="Serial console"
        tabIndex={0}
        className="console-log"
        onScroll={(event) => {
          const element = event.currentTarget;
          following.current = element.scrollHeight - element.scrollTop - element.clientHeight <= STICKY_PX;
        }}
      >
        {text}
      </pre>
      {ending?.error && (
        <p role="alert" className="error">
          The console stopped: {ending.error.message}
        </p>
      )}
      {ending && !ending.error && <p className="placeholder">The console ended ({sandbox.name} is {sandbox.state}).</p>}
    </div>
  );
}

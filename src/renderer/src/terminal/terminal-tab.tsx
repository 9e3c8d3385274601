import { useCallback, useEffect, useId, useRef, useState } from 'react';
import { panelId, tabId, TabStrip } from '../controls/tab-strip';
import type { ListedSandbox } from '../stores/sandboxes-store';
import { TerminalView } from './terminal-view';

interface OpenTerminal {
  number: number;
  /** Opened by the user (focus it) rather than automatically with the tab. */
  asked: boolean;
}

/**
 * The Terminal tab: several PTY sessions side by side as sub-tabs. The first opens by
 * itself once the sandbox runs; closing one ends its guest process.
 */
export default function TerminalTab({ sandbox, visible }: { sandbox: ListedSandbox; visible: boolean }) {
  const idPrefix = useId();
  const running = sandbox.state === 'running';
  const [terminals, setTerminals] = useState<OpenTerminal[]>([]);
  const [selected, setSelected] = useState<number | null>(null);
  const opened = useRef(0);
  const newButton = useRef<HTMLButtonElement>(null);
  const strip = useRef<HTMLDivElement>(null);

  const add = useCallback((asked: boolean) => {
    const number = ++opened.current;
    setTerminals((current) => [...current, { number, asked }]);
    setSelected(number);
  }, []);

  useEffect(() => {
    if (running && opened.current === 0) add(false);
  }, [running, add]);

  const close = (number: number) => {
    const index = terminals.findIndex((terminal) => terminal.number === number);
    const rest = terminals.filter((terminal) => terminal.number !== number);
    setTerminals(rest);
    const next = rest[Math.min(index, rest.length - 1)];
    if (selected === number) setSelected(next?.number ?? null);
    // The close button disappears with its tab: keep the keyboard nearby.
    queueMicrotask(() => (strip.current?.querySelector<HTMLElement>('[role="tab"][aria-selected="true"]') ?? newButton.current)?.focus());
  };

  return (
    <div className="terminal-tab">
      <div className="toolbar" ref={strip}>
        {terminals.length > 0 && (
          <TabStrip
            label="Terminals"
            idPrefix={idPrefix}
            selected={String(selected)}
            onSelect={(key) => setSelected(Number(key))}
            tabs={terminals.map(({ number }) => ({
              key: String(number),
              label: `Terminal ${number}`,
              after: (
                <button type="button" className="icon-button tab-close" aria-label={`Close Terminal ${number}`} onClick={() => close(number)}>
                  ×
                </button>
              ),
            }))}
          />
        )}
        <button type="button" ref={newButton} className="small" disabled={!running} onClick={() => add(true)}>
          New terminal
        </button>
        <span className="toolbar-hint">Shift+Tab leaves a terminal</span>
      </div>
      {!running && <p className="placeholder">A terminal needs a running sandbox; {sandbox.name} is {sandbox.state}.</p>}
      {running && terminals.length === 0 && <p className="placeholder">No terminal open.</p>}
      {terminals.map(({ number, asked }) => (
        <div
          key={number}
          role="tabpanel"
          id={panelId(idPrefix, String(number))}
          aria-labelledby={tabId(idPrefix, String(number))}
          hidden={number !== selected}
          className="terminal-panel"
        >
          <TerminalView sandboxId={sandbox.id} label={`Terminal ${number}`} active={visible && number === selected} focusOnOpen={asked} />
        </div>
      ))}
    </div>
  );
}

import { useEffect, useState } from 'react';
import { AppError, type DisplayInfo } from '../../../shared/app-contract';
import { useAppServices } from '../app/app-services';
import type { ListedSandbox } from '../stores/sandboxes-store';
import { DisplayChannel } from './display-channel';
import { VncViewer } from './vnc-viewer';

/**
 * The sandbox's screen, for templates with a display: a VNC session through the daemon
 * (each connection asks for a fresh single-use token, so Reconnect simply connects again).
 * Sandboxes without a display, or not running, say why.
 */
export function DisplayTab({ sandbox }: { sandbox: ListedSandbox }) {
  const { api } = useAppServices();
  const [display, setDisplay] = useState<DisplayInfo | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [attempt, setAttempt] = useState(0);
  const running = sandbox.state === 'running';

  useEffect(() => {
    let live = true;
    setDisplay(null);
    setError(null);
    api.display(sandbox.id).then(
      (info) => live && setDisplay(info),
      (failure: unknown) => live && setError(AppError.from(failure).message),
    );
    return () => {
      live = false;
    };
  }, [api, sandbox.id, attempt, running]);

  if (error) {
    return (
      <div className="display-none">
        <p role="alert" className="error">
          Cannot open the display: {error}
        </p>
        <button type="button" onClick={() => setAttempt((n) => n + 1)}>
          Try again
        </button>
      </div>
    );
  }
  if (!display) return <p className="placeholder">Looking for a display…</p>;
  if (!display.available) {
    return (
      <div className="display-none">
        <h3>No display</h3>
        <p>{display.reason}</p>
      </div>
    );
  }
  return (
    <div role="region" aria-label="Display" className="display-region">
      <VncViewer
        key={attempt}
        connect={() => new DisplayChannel((onEvent) => api.openDisplay(sandbox.id, onEvent))}
        size={display.size}
        onReconnect={() => setAttempt((n) => n + 1)}
      />
    </div>
  );
}

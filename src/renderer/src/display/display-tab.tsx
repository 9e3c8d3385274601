import { useEffect, useState } from 'react';
import { AppError, type DisplayInfo } from '../../../shared/app-contract';
import { useAppServices } from '../app/app-services';
import type { ListedSandbox } from '../stores/sandboxes-store';

/** Where the sandbox's screen will show; the VNC viewer comes with the desktop template. */
export function DisplayTab({ sandbox }: { sandbox: ListedSandbox }) {
  const { api } = useAppServices();
  const [display, setDisplay] = useState<DisplayInfo | null>(null);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    let live = true;
    api.display(sandbox.id).then(
      (info) => live && setDisplay(info),
      (failure: unknown) => live && setError(AppError.from(failure).message),
    );
    return () => {
      live = false;
    };
  }, [api, sandbox.id]);

  if (error) {
    return (
      <p role="alert" className="error">
        Cannot read the display: {error}
      </p>
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
      <p>The display is served at</p>
      <code>{display.url}</code>
    </div>
  );
}

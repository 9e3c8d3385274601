import { useEffect, useRef, useState, type FormEvent } from 'react';
import type RFB from '@novnc/novnc';
import type { DisplayChannel } from './display-channel';
import { KEY_COMBOS, sendCombo } from './key-combos';

type Status =
  | { phase: 'loading' }
  | { phase: 'connecting' }
  | { phase: 'password'; wrong: boolean }
  | { phase: 'connected'; name: string | null }
  | { phase: 'disconnected'; message: string };

export interface VncViewerProps {
  /** Opens the connection to the display's VNC server (once per viewer). */
  connect(): DisplayChannel;
  /** Asks for a fresh token and a new connection. */
  onReconnect(): void;
  /** The guest screen's size, for the status line. */
  size?: { width: number; height: number };
}

/**
 * A VNC session in the page: noVNC (loaded on first use, not with the app) draws the
 * guest's screen into a canvas scaled to fit the tab, takes the keyboard and mouse while
 * focused, and asks for a password in the page itself if the server wants one. The bytes
 * come over the contract's display connection, so the same viewer works in browser mode
 * (a WebSocket to the daemon) and in Electron (through main over a MessagePort).
 */
export function VncViewer({ connect, onReconnect, size }: VncViewerProps) {
  const screen = useRef<HTMLDivElement>(null);
  const rfbRef = useRef<RFB | null>(null);
  const [status, setStatus] = useState<Status>({ phase: 'loading' });
  const [scale, setScale] = useState(true);
  const [password, setPassword] = useState('');
  const [comboIndex, setComboIndex] = useState('');
  const passwordSent = useRef(false);

  useEffect(() => {
    let ended = false;
    void import('@novnc/novnc').then(
      ({ default: Rfb }) => {
        if (ended || !screen.current) return;
        const rfb = new Rfb(screen.current, connect() as unknown as WebSocket, { shared: true });
        rfb.scaleViewport = true;
        rfb.resizeSession = false;
        rfb.background = 'rgb(16, 19, 23)';
        rfb.addEventListener('connect', () => !ended && setStatus({ phase: 'connected', name: null }));
        rfb.addEventListener('desktopname', (event) => {
          const name = (event as CustomEvent<{ name: string }>).detail.name;
          if (!ended) setStatus((current) => (current.phase === 'connected' ? { phase: 'connected', name } : current));
        });
        rfb.addEventListener('credentialsrequired', () => {
          if (!ended) setStatus({ phase: 'password', wrong: passwordSent.current });
        });
        rfb.addEventListener('securityfailure', (event) => {
          const { reason } = (event as CustomEvent<{ status: number; reason?: string }>).detail;
          if (!ended) setStatus({ phase: 'disconnected', message: `The VNC server refused the connection${reason ? `: ${reason}` : ''}.` });
        });
        rfb.addEventListener('disconnect', (event) => {
          const { clean } = (event as CustomEvent<{ clean: boolean }>).detail;
          if (ended) return;
          rfbRef.current = null;
          setStatus((current) =>
            current.phase === 'disconnected' ? current : { phase: 'disconnected', message: clean ? 'Disconnected.' : 'The connection to the display was lost or refused.' },
          );
        });
        rfbRef.current = rfb;
        setStatus({ phase: 'connecting' });
      },
      (error: unknown) => !ended && setStatus({ phase: 'disconnected', message: `The VNC viewer could not be loaded: ${(error as Error).message}` }),
    );
    return () => {
      ended = true;
      rfbRef.current?.disconnect();
      rfbRef.current = null;
    };
    // One connection per viewer: Reconnect mounts a new viewer.
  }, []);

  useEffect(() => {
    if (rfbRef.current) rfbRef.current.scaleViewport = scale;
  }, [scale, status.phase]);

  const submitPassword = (event: FormEvent) => {
    event.preventDefault();
    rfbRef.current?.sendCredentials({ password });
    passwordSent.current = true;
    setPassword('');
    setStatus({ phase: 'connecting' });
  };

  const connected = status.phase === 'connected';
  const sendSelected = (value: string) => {
    const combo = KEY_COMBOS[Number(value)];
    if (combo && rfbRef.current) sendCombo(rfbRef.current, combo);
    setComboIndex('');
    rfbRef.current?.focus();
  };

  return (
    <div className="vnc-viewer">
      <div className="toolbar vnc-toolbar">
        <span role="status" className="vnc-status" data-phase={status.phase}>
          {statusText(status, size)}
        </span>
        <span className="header-spacer" />
        <button type="button" disabled={!connected} onClick={() => rfbRef.current?.sendCtrlAltDel()}>
          Send Ctrl+Alt+Del
        </button>
        <select aria-label="Send keys" value={comboIndex} disabled={!connected} onChange={(event) => sendSelected(event.target.value)}>
          <option value="" disabled>
            Send keys…
          </option>
          {KEY_COMBOS.map((combo, index) => (
            <option key={combo.label} value={String(index)}>
              {combo.label}
            </option>
          ))}
        </select>
        <label className="vnc-scale">
          <input type="checkbox" checked={scale} onChange={(event) => setScale(event.target.checked)} /> Scale to fit
        </label>
        {status.phase === 'disconnected' && (
          <button type="button" onClick={onReconnect}>
            Reconnect
          </button>
        )}
      </div>
      {status.phase === 'password' && (
        <form className="vnc-password" onSubmit={submitPassword} aria-label="VNC password">
          <label>
            {status.wrong ? 'That password was not accepted. VNC password' : 'The display asks for a password'}
            <input type="password" autoComplete="off" value={password} onChange={(event) => setPassword(event.target.value)} autoFocus />
          </label>
          <button type="submit" disabled={password === ''}>
            Connect
          </button>
        </form>
      )}
      <div ref={screen} className="vnc-screen" data-testid="vnc-screen" />
    </div>
  );
}

function statusText(status: Status, size: VncViewerProps['size']): string {
  switch (status.phase) {
    case 'loading':
      return 'Loading the VNC viewer…';
    case 'connecting':
      return 'Connecting to the display…';
    case 'password':
      return 'Waiting for the password…';
    case 'connected':
      return `Connected${status.name ? ` to ${status.name}` : ''}${size ? ` · ${size.width}×${size.height}` : ''}`;
    case 'disconnected':
      return status.message;
  }
}

import type { DisplaySession } from '../../../shared/api/display-schemas';
import { AppError, type DisplayConnection, type DisplayEvent } from '../../../shared/app-contract';
import { segment, type DaemonHttp } from './daemon-http';

/**
 * A sandbox's VNC stream in browser mode: a fresh single-use token from POST …/display,
 * then the display WebSocket on the daemon that served the page (the session cookie goes
 * with it). Ends with exactly one close event, also when the token could not be had.
 */
export function openDisplaySocket(http: DaemonHttp, id: string, onEvent: (event: DisplayEvent) => void): DisplayConnection {
  let socket: WebSocket | null = null;
  let ended = false;
  const end = (event: Extract<DisplayEvent, { type: 'close' }>) => {
    if (ended) return;
    ended = true;
    onEvent(event);
  };
  http.request<DisplaySession>('POST', `/sandboxes/${segment(id)}/display`).then(
    (session) => {
      if (ended) return;
      const url = new URL(session.path, http.origin);
      url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
      const opened = new WebSocket(url);
      opened.binaryType = 'arraybuffer';
      opened.onopen = () => !ended && onEvent({ type: 'open' });
      opened.onmessage = (message: MessageEvent<ArrayBuffer>) => !ended && onEvent({ type: 'data', data: new Uint8Array(message.data) });
      opened.onclose = (close) => end({ type: 'close', code: close.code, reason: close.reason });
      socket = opened;
    },
    (error: unknown) => end({ type: 'close', code: 1011, reason: AppError.encode(AppError.from(error)) }),
  );
  return {
    send(data) {
      if (!ended && socket?.readyState === WebSocket.OPEN) socket.send(data);
    },
    close() {
      socket?.close();
      end({ type: 'close', code: 1000, reason: 'closed' });
    },
  };
}

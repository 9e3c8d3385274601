import { AppError, type AppErrorInfo, type Unsubscribe } from '../../../shared/app-contract';
import { segment, type DaemonHttp } from './daemon-http';

/** How much history a new console view starts with. */
const TAIL_LINES = 1000;

/**
 * The serial console: GET /logs?tail=…&follow=true read as a stream, decoded as UTF-8
 * across chunk boundaries. Unsubscribing aborts the request; after that nothing is called.
 */
export function followSerialConsole(http: DaemonHttp, id: string, onData: (text: string) => void, onEnd?: (error: AppErrorInfo | null) => void): Unsubscribe {
  const aborter = new AbortController();
  const path = `/sandboxes/${segment(id)}/logs`;
  void (async () => {
    const decoder = new TextDecoder();
    try {
      const response = await http.send('GET', path, { query: { tail: TAIL_LINES, follow: true }, signal: aborter.signal });
      if (!response.body) throw new AppError('internal', `GET ${path}: the answer has no body`);
      const reader = response.body.getReader();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        const text = decoder.decode(value, { stream: true });
        if (text) onData(text);
      }
      const rest = decoder.decode();
      if (rest) onData(rest);
      onEnd?.(null);
    } catch (error) {
      if (aborter.signal.aborted) return;
      // A stream cut mid-way (the daemon went away) rejects read() with a plain TypeError.
      const failure = error instanceof AppError ? error : http.unreachable('GET', path, error);
      onEnd?.({ code: failure.code, message: failure.message });
    }
  })();
  return () => aborter.abort();
}

import type { SandboxEvent } from '../../../shared/api/event-schemas';
import type { Unsubscribe } from '../../../shared/app-contract';

const EVENT_TYPES: readonly SandboxEvent['type'][] = ['state', 'progress', 'snapshot'];
const FIRST_RETRY_MS = 1000;
const MAX_RETRY_MS = 15_000;

/**
 * The daemon's Server-Sent Events (/api/v1/events). EventSource reconnects by itself after a
 * dropped connection, but gives up for good when an attempt is answered with an error
 * status (a restarting daemon, an expired session); then a new one is opened with a
 * growing delay. onConnection hears every change between connected and not.
 */
export function watchDaemonEvents(url: string, onEvent: (event: SandboxEvent) => void, onConnection?: (connected: boolean) => void): Unsubscribe {
  let source: EventSource | undefined;
  let retryTimer: ReturnType<typeof setTimeout> | undefined;
  let retryMs = FIRST_RETRY_MS;
  let connected: boolean | undefined;
  let stopped = false;

  const report = (now: boolean) => {
    if (now === connected) return;
    connected = now;
    onConnection?.(now);
  };
  const deliver = (message: MessageEvent<string>) => {
    let event: SandboxEvent;
    try {
      event = JSON.parse(message.data) as SandboxEvent;
    } catch {
      return;
    }
    onEvent(event);
  };

  const open = () => {
    const current = new EventSource(url);
    source = current;
    // Only the known event types: a newer daemon's other events are skipped, not misread.
    for (const type of EVENT_TYPES) current.addEventListener(type, deliver);
    current.onopen = () => {
      retryMs = FIRST_RETRY_MS;
      report(true);
    };
    current.onerror = () => {
      report(false);
      if (current.readyState !== EventSource.CLOSED || stopped) return;
      retryTimer = setTimeout(open, retryMs);
      retryMs = Math.min(retryMs * 2, MAX_RETRY_MS);
    };
  };
  open();

  return () => {
    stopped = true;
    clearTimeout(retryTimer);
    source?.close();
  };
}

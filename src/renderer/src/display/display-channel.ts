import type { DisplayConnection, DisplayEvent } from '../../../shared/app-contract';

type ReadyState = 'connecting' | 'open' | 'closing' | 'closed';

/**
 * A display connection of the contract dressed as the WebSocket noVNC expects (its "raw
 * channel": send, close, binaryType, protocol, readyState and the on* handlers). Events
 * are delivered a microtask later, so noVNC has attached its handlers before the first
 * bytes (the server's greeting) arrive, whichever transport stands behind the connection.
 */
export class DisplayChannel {
  binaryType = 'arraybuffer';
  readonly protocol = '';
  readyState: ReadyState = 'connecting';
  onopen: ((event: Event) => void) | null = null;
  onmessage: ((event: { data: ArrayBuffer }) => void) | null = null;
  onclose: ((event: { code: number; reason: string; wasClean: boolean }) => void) | null = null;
  onerror: ((event: Event) => void) | null = null;
  private readonly connection: DisplayConnection;

  constructor(open: (onEvent: (event: DisplayEvent) => void) => DisplayConnection) {
    this.connection = open((event) => queueMicrotask(() => this.deliver(event)));
  }

  send(data: ArrayBuffer | ArrayBufferView): void {
    if (this.readyState !== 'open') return;
    const bytes = data instanceof ArrayBuffer ? new Uint8Array(data) : new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    // A copy: noVNC reuses its send buffer.
    this.connection.send(bytes.slice());
  }

  close(): void {
    if (this.readyState === 'closing' || this.readyState === 'closed') return;
    this.readyState = 'closing';
    this.connection.close();
  }

  private deliver(event: DisplayEvent): void {
    if (this.readyState === 'closed') return;
    if (event.type === 'open') {
      if (this.readyState !== 'connecting') return;
      this.readyState = 'open';
      this.onopen?.(new Event('open'));
    } else if (event.type === 'data') {
      const { data } = event;
      this.onmessage?.({ data: data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength) as ArrayBuffer });
    } else {
      this.readyState = 'closed';
      this.onclose?.({ code: event.code, reason: event.reason, wasClean: event.code === 1000 });
    }
  }
}

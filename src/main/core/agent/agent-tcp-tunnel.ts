import { Duplex } from 'node:stream';
import type { InboundChannel, OutboundChannel } from './agent-channels.js';

/**
 * A `tcp.connect` stream as one Duplex, like a net.Socket. Written out rather than
 * `Duplex.from({ readable, writable })`, whose destroy() without an error still emits an
 * AbortError: closing a tunnel is normal and must not look like a failure. Pausing the
 * inbound channel when the consumer is full is what withholds credit from the guest.
 */
export class TcpTunnel extends Duplex {
  constructor(
    private readonly inbound: InboundChannel,
    private readonly outbound: OutboundChannel,
    private readonly cancel: () => void,
  ) {
    super({ allowHalfOpen: true });
    inbound.on('data', (chunk: Buffer) => {
      if (!this.push(chunk)) inbound.pause();
    });
    inbound.on('end', () => this.push(null));
    inbound.on('error', (error: Error) => this.destroy(error));
    outbound.on('error', (error: Error) => this.destroy(error));
  }

  override _read(): void {
    this.inbound.resume();
  }

  override _write(chunk: Buffer, encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.outbound.write(chunk, encoding, callback);
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.outbound.end(callback);
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    if (!this.inbound.readableEnded || !this.outbound.writableFinished) this.cancel();
    callback(error);
  }
}

import { Readable, Writable } from 'node:stream';

/**
 * The two ends of a flow-controlled channel (docs/agent-protocol.md §4) as Node streams.
 * Credit is what bounds memory: the agent may have at most `window` unacknowledged
 * bytes in flight per stream and channel, so an InboundChannel returns credit only for
 * bytes its consumer has taken, and an OutboundChannel never sends beyond its credit.
 */

export interface InboundChannelOptions {
  window: number;
  sendCredit: (bytes: number) => void;
  /** Called when the consumer destroys the stream before its end. */
  onAbandon?: () => void;
}

export class InboundChannel extends Readable {
  private pushed = 0;
  private credited = 0;
  private eof = false;

  constructor(private readonly options: InboundChannelOptions) {
    super();
  }

  deliver(payload: Buffer): void {
    if (this.eof || this.destroyed) {
      // Nobody will read these bytes; credit them at once so the sender is never stuck.
      this.options.sendCredit(payload.length);
      return;
    }
    this.pushed += payload.length;
    this.push(payload);
    this.returnCredit(false);
  }

  /** The sender's EOF (or the stream's end): no more bytes will come. */
  finish(): void {
    if (this.eof || this.destroyed) return;
    this.eof = true;
    this.push(null);
  }

  // Every way of consuming (read(), 'data' in flowing mode, pipe, async iteration) goes
  // through read(), so credit follows consumption rather than the buffer refilling.
  override read(size?: number): unknown {
    const chunk: unknown = super.read(size);
    this.returnCredit(false);
    return chunk;
  }

  override _read(): void {
    this.returnCredit(true);
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    if (!this.eof) {
      const owed = this.pushed - this.credited;
      this.credited = this.pushed;
      if (owed > 0) this.options.sendCredit(owed);
      this.options.onAbandon?.();
    }
    this.eof = true;
    callback(error);
  }

  // Crediting in quarter windows keeps WINDOW frames few; a consumer that has drained
  // the buffer gets whatever is owed at once, so a sender waiting on a partly used
  // window is never left waiting.
  private returnCredit(starving: boolean): void {
    const consumed = this.pushed - this.readableLength;
    const owed = consumed - this.credited;
    if (owed <= 0) return;
    if (owed >= this.options.window / 4 || (starving && this.readableLength === 0)) {
      this.credited += owed;
      this.options.sendCredit(owed);
    }
  }
}

export interface OutboundChannelOptions {
  window: number;
  maxData: number;
  sendData: (payload: Buffer) => void;
  sendEof: () => void;
}

export class OutboundChannel extends Writable {
  private credit: number;
  private resume: (() => void) | null = null;

  constructor(private readonly options: OutboundChannelOptions) {
    super();
    this.credit = options.window;
  }

  addCredit(bytes: number): void {
    this.credit += bytes;
    const resume = this.resume;
    this.resume = null;
    resume?.();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.pump(chunk, callback);
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.options.sendEof();
    callback();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.resume = null;
    callback(error);
  }

  private pump(chunk: Buffer, callback: (error?: Error | null) => void): void {
    let rest = chunk;
    while (rest.length > 0) {
      if (this.credit <= 0) {
        this.resume = () => this.pump(rest, callback);
        return;
      }
      const size = Math.min(rest.length, this.credit, this.options.maxData);
      this.options.sendData(rest.subarray(0, size));
      this.credit -= size;
      rest = rest.subarray(size);
    }
    callback();
  }
}

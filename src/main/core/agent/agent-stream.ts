import { SandboxError } from '../errors/sandbox-error.js';
import { InboundChannel, OutboundChannel } from './agent-channels.js';
import { FrameType, encodeFrame, encodeJson, encodeWindow, type Frame } from './agent-frames.js';

/** What a stream needs from its session. */
export interface StreamSession {
  readonly window: number;
  readonly maxData: number;
  send(frame: Buffer): void;
  /** The stream's END arrived (or the session ended): its id may be reused. */
  release(id: number): void;
}

export interface ChannelPolicy {
  /**
   * Whether the stream's failure (END error, abort, session lost) is emitted on its
   * channels. File and TCP content have no other place to report it; an exec's output
   * ends quietly because its result reports it, so output nobody watches for errors
   * cannot crash the host with an unhandled 'error'.
   */
  carriesErrors: boolean;
  /** Whether destroying an inbound channel early cancels the stream (otherwise its bytes are drained). */
  cancelOnAbandon: boolean;
}

export interface StreamOptions extends ChannelPolicy {
  signal?: AbortSignal;
}

type ControlListener = (message: Record<string, unknown>) => void;

/** One stream of a session: its channels, its CONTROL messages and its END. */
export class AgentStream {
  readonly result: Promise<unknown>;
  private outcomeKnown = false;
  private ended = false;
  private cancelled = false;
  private readonly inbound = new Map<number, InboundChannel>();
  private readonly outbound = new Map<number, OutboundChannel>();
  private controlListener: ControlListener | null = null;
  private resolve!: (value: unknown) => void;
  private reject!: (error: SandboxError) => void;

  constructor(
    readonly id: number,
    private readonly session: StreamSession,
    private readonly options: StreamOptions,
  ) {
    this.result = new Promise((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
    // Streams that report through their channels (file.read) never have their result
    // awaited; an unobserved failure must not become an unhandled rejection.
    this.result.catch(() => {});
    if (options.signal) this.bindSignal(options.signal);
  }

  /** The outcome is known: END arrived, the call was aborted, or the session ended. */
  get settled(): boolean {
    return this.outcomeKnown;
  }

  open(op: string, args: object): void {
    this.session.send(encodeJson(FrameType.OPEN, this.id, { op, ...args }));
  }

  readable(channel: number): InboundChannel {
    const inbound = new InboundChannel({
      window: this.session.window,
      sendCredit: (bytes) => {
        if (!this.ended) this.session.send(encodeWindow(this.id, channel, bytes));
      },
      onAbandon: this.options.cancelOnAbandon ? () => this.cancel() : undefined,
    });
    this.inbound.set(channel, inbound);
    return inbound;
  }

  writable(channel: number): OutboundChannel {
    const outbound = new OutboundChannel({
      window: this.session.window,
      maxData: this.session.maxData,
      sendData: (payload) => {
        if (!this.ended) this.session.send(encodeFrame({ type: FrameType.DATA, channel, stream: this.id, payload }));
      },
      sendEof: () => {
        if (!this.ended) this.session.send(encodeFrame({ type: FrameType.EOF, channel, stream: this.id, payload: Buffer.alloc(0) }));
      },
    });
    this.outbound.set(channel, outbound);
    return outbound;
  }

  onControl(listener: ControlListener): void {
    this.controlListener = listener;
  }

  /** False when the stream has already ended and the message was not sent. */
  control(message: object): boolean {
    if (this.ended) return false;
    this.session.send(encodeJson(FrameType.CONTROL, this.id, message));
    return true;
  }

  /** Sends CANCEL; the outcome still comes from the agent's END. */
  cancel(): void {
    if (this.ended || this.cancelled) return;
    this.cancelled = true;
    this.session.send(encodeFrame({ type: FrameType.CANCEL, channel: 0, stream: this.id, payload: Buffer.alloc(0) }));
  }

  handle(frame: Frame): void {
    switch (frame.type) {
      case FrameType.DATA:
        this.inbound.get(frame.channel)?.deliver(frame.payload);
        return;
      case FrameType.EOF:
        this.inbound.get(frame.channel)?.finish();
        return;
      case FrameType.WINDOW:
        if (frame.payload.length === 4) this.outbound.get(frame.channel)?.addCredit(frame.payload.readUInt32BE(0));
        return;
      case FrameType.CONTROL:
        this.controlListener?.(parseObject(frame.payload));
        return;
      case FrameType.END:
        this.end(frame.payload);
        return;
    }
  }

  /** The session ended under this stream. */
  lose(error: SandboxError): void {
    this.ended = true;
    this.fail(error);
  }

  private end(payload: Buffer): void {
    this.ended = true;
    this.session.release(this.id);
    const outcome = parseObject(payload) as { ok?: boolean; result?: unknown; error?: { code?: string; message?: string } };
    if (outcome.ok !== true) {
      this.fail(
        new SandboxError(
          outcome.error?.code ?? 'agent_protocol',
          outcome.error?.message ?? `the agent ended stream ${this.id} without a readable outcome`,
        ),
      );
      return;
    }
    this.settle(outcome.result ?? {});
    for (const channel of this.inbound.values()) channel.finish();
    // What was not yet sent can no longer be delivered: an exec's process has exited.
    for (const channel of this.outbound.values()) if (!channel.writableFinished) channel.destroy();
  }

  private bindSignal(signal: AbortSignal): void {
    const abort = () => {
      if (this.settled) return;
      this.cancel();
      this.fail(new SandboxError('cancelled', 'the call was cancelled'));
    };
    if (signal.aborted) {
      queueMicrotask(abort);
      return;
    }
    signal.addEventListener('abort', abort, { once: true });
    void this.result.finally(() => signal.removeEventListener('abort', abort)).catch(() => {});
  }

  private fail(error: SandboxError): void {
    this.settle(error);
    const reported = this.options.carriesErrors ? error : undefined;
    for (const channel of this.inbound.values()) {
      if (reported) channel.destroy(reported);
      else channel.finish();
    }
    for (const channel of this.outbound.values()) if (!channel.writableFinished) channel.destroy(reported);
  }

  private settle(outcome: unknown): void {
    if (this.outcomeKnown) return;
    this.outcomeKnown = true;
    if (outcome instanceof SandboxError) this.reject(outcome);
    else this.resolve(outcome);
  }
}

function parseObject(payload: Buffer): Record<string, unknown> {
  try {
    const value: unknown = JSON.parse(payload.toString('utf8'));
    return value !== null && typeof value === 'object' ? (value as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}

import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { Duplex, Readable, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { productVersion } from '../paths/product-version.js';
import { SandboxError } from '../errors/sandbox-error.js';
import {
  Channel,
  FrameReader,
  FrameType,
  agentProtocol,
  decodeHello,
  encodeFrame,
  encodeGreeting,
  type AgentHello,
  type Frame,
} from './agent-frames.js';
import { ExecProcess } from './agent-exec.js';
import { TcpTunnel } from './agent-tcp-tunnel.js';
import { AgentStream, type ChannelPolicy, type StreamSession } from './agent-stream.js';
import type {
  AgentInfo,
  CallOptions,
  ExecRequest,
  FileInfo,
  MkdirOptions,
  PowerAction,
  ReadFileOptions,
  RemoveOptions,
  RunResult,
  TimeSetResult,
  NetConfigureRequest,
  NetConfigureResult,
  WriteFileOptions,
  WriteFileResult,
} from './agent-types.js';

/** A reliable ordered byte stream to the agent: a socket, or a process's stdout/stdin. */
export type AgentTransport = Duplex | { readable: Readable; writable: Writable };

export interface ConnectOptions {
  /** Give up when no matching HELLO arrived within this many ms. */
  deadlineMs?: number;
  signal?: AbortSignal;
}

export interface RunOptions extends CallOptions {
  stdin?: Buffer | string;
  /** Per stream; output beyond it is drained and dropped, and `truncated` is set. */
  maxOutputBytes?: number;
}

/** File and TCP content: failures are emitted on the stream, and dropping it cancels. */
const CONTENT: ChannelPolicy = { carriesErrors: true, cancelOnAbandon: true };
/** Process output: failures are reported by the exec's result, and dropped output is drained. */
const PROCESS_OUTPUT: ChannelPolicy = { carriesErrors: false, cancelOnAbandon: false };

const CLIENT_NAME = `microvm-host/${productVersion()}`;
const DEFAULT_DEADLINE_MS = 10_000;

type State = 'handshake' | 'open' | 'closed';

/**
 * One session with the guest agent (docs/agent-protocol.md). Every call is a stream of
 * the session; when the session ends (transport gone, session ERROR, close()) every
 * pending call rejects, open file and TCP streams error (exec output ends; the exec's
 * result rejects), `closed` resolves and 'close' is emitted. A session ERROR leaves the transport open, so a new session can be started on
 * it with another `connect` — the agent goes back to searching for a preamble.
 */
export class AgentClient extends EventEmitter implements StreamSession {
  readonly closed: Promise<SandboxError | null>;
  private state: State = 'handshake';
  private hello: AgentHello | null = null;
  private readonly readable: Readable;
  private readonly writable: Writable;
  private readonly reader: FrameReader;
  private readonly streams = new Map<number, AgentStream>();
  private readonly pings = new Map<string, (error?: SandboxError) => void>();
  private nextStreamId = 1;
  private endReason: SandboxError | null = null;
  private resolveClosed!: (reason: SandboxError | null) => void;
  private onHello: (() => void) | null = null;
  private readonly detachers: Array<() => void> = [];

  private constructor(private readonly transport: AgentTransport) {
    super();
    if (transport instanceof Duplex) {
      this.readable = transport;
      this.writable = transport;
    } else {
      this.readable = transport.readable;
      this.writable = transport.writable;
    }
    this.closed = new Promise((resolve) => (this.resolveClosed = resolve));
    this.reader = new FrameReader((frame) => this.dispatch(frame));
    this.attach();
  }

  /** Starts a session. If that fails the transport is left open: it is the caller's. */
  static async connect(transport: AgentTransport, options: ConnectOptions = {}): Promise<AgentClient> {
    const client = new AgentClient(transport);
    await client.handshake(options);
    return client;
  }

  /** The agent's HELLO: its version, limits and operations. */
  get agent(): AgentHello {
    if (this.hello === null) throw new SandboxError('agent_unreachable', 'the session has not started');
    return this.hello;
  }

  get window(): number {
    return this.agent.window;
  }

  get maxData(): number {
    return this.agent.maxData;
  }

  // ---- operations ----------------------------------------------------------------

  /** Any unary operation by name (OPEN → END): the typed methods below are built on it. */
  async request(op: string, args: object = {}, options: CallOptions = {}): Promise<unknown> {
    return this.openStream(op, args, options.signal, CONTENT).result;
  }

  info(options?: CallOptions): Promise<AgentInfo> {
    return this.request('info', {}, options) as Promise<AgentInfo>;
  }

  stat(path: string, options?: CallOptions): Promise<FileInfo> {
    return this.request('file.stat', { path }, options) as Promise<FileInfo>;
  }

  async list(path: string, options?: CallOptions): Promise<FileInfo[]> {
    const result = (await this.request('file.list', { path }, options)) as { entries: FileInfo[] };
    return result.entries;
  }

  mkdir(path: string, options: MkdirOptions & CallOptions = {}): Promise<FileInfo> {
    const { signal, ...args } = options;
    return this.request('file.mkdir', { path, ...args }, { signal }) as Promise<FileInfo>;
  }

  async remove(path: string, options: RemoveOptions & CallOptions = {}): Promise<void> {
    const { signal, ...args } = options;
    await this.request('file.remove', { path, ...args }, { signal });
  }

  rename(from: string, to: string, options?: CallOptions): Promise<FileInfo> {
    return this.request('file.rename', { from, to }, options) as Promise<FileInfo>;
  }

  setTime(unixMs: number, options?: CallOptions): Promise<TimeSetResult> {
    return this.request('time.set', { unixMs }, options) as Promise<TimeSetResult>;
  }

  /** Moves the guest's NIC to new settings (address as ADDRESS/PREFIX); only an agent that is init of a VM does it. */
  configureNetwork(settings: NetConfigureRequest, options?: CallOptions): Promise<NetConfigureResult> {
    return this.request('net.configure', settings, options) as Promise<NetConfigureResult>;
  }

  async power(action: PowerAction, options?: CallOptions): Promise<void> {
    await this.request('power', { action }, options);
  }

  /** Starts a process; throws if the session has ended. */
  exec(request: ExecRequest, options: CallOptions = {}): ExecProcess {
    const stream = this.openStream('exec', request, options.signal, PROCESS_OUTPUT);
    return new ExecProcess(stream, request);
  }

  /** Runs a process to completion, collecting its output. */
  async run(request: ExecRequest, options: RunOptions = {}): Promise<RunResult> {
    const { stdin, maxOutputBytes = Number.POSITIVE_INFINITY, signal } = options;
    const child = this.exec({ ...request, stdin: stdin !== undefined }, { signal });
    if (child.stdin !== null) {
      // The process may exit without reading all its input; its exit status tells.
      child.stdin.on('error', () => {});
      child.stdin.end(stdin);
    }
    const collect = async (stream: Readable): Promise<{ data: Buffer; truncated: boolean }> => {
      const chunks: Buffer[] = [];
      let size = 0;
      let truncated = false;
      for await (const chunk of stream as AsyncIterable<Buffer>) {
        const room = maxOutputBytes - size;
        if (chunk.length > room) truncated = true;
        if (room > 0) {
          const kept = chunk.length > room ? chunk.subarray(0, room) : chunk;
          chunks.push(kept);
          size += kept.length;
        }
      }
      return { data: Buffer.concat(chunks), truncated };
    };
    const [result, stdout, stderr] = await Promise.all([child.result, collect(child.stdout), collect(child.stderr)]);
    return {
      ...result,
      stdout: stdout.data,
      stderr: stderr.data,
      truncated: stdout.truncated || stderr.truncated,
      stdoutTruncated: stdout.truncated,
      stderrTruncated: stderr.truncated,
    };
  }

  /** Streams content into a guest file (atomic by default). */
  async writeFile(
    path: string,
    source: Readable | Buffer | string,
    options: WriteFileOptions & CallOptions = {},
  ): Promise<WriteFileResult> {
    const { signal, ...args } = options;
    const stream = this.openStream('file.write', { path, ...args }, signal, CONTENT);
    const sink = stream.writable(Channel.stdin);
    const content = source instanceof Readable ? source : Readable.from([Buffer.from(source)]);
    let sourceError: unknown;
    const upload = pipeline(content, sink).catch((error: unknown) => {
      // A failing source must cancel the upload, or the agent waits for EOF forever.
      // If the stream already has its outcome, the sink was closed because of it.
      if (!stream.settled) {
        sourceError = error;
        stream.cancel();
      }
    });
    try {
      return (await stream.result) as WriteFileResult;
    } catch (error) {
      await upload;
      throw sourceError ?? error;
    }
  }

  /** A guest file's content; failures are emitted on the stream as SandboxError. Destroying it cancels the read. */
  readFile(path: string, options: ReadFileOptions & CallOptions = {}): Readable {
    const { signal, ...args } = options;
    const stream = this.openStream('file.read', { path, ...args }, signal, CONTENT);
    return stream.readable(Channel.stdout);
  }

  async readFileBuffer(path: string, options: ReadFileOptions & CallOptions = {}): Promise<Buffer> {
    const chunks: Buffer[] = [];
    for await (const chunk of this.readFile(path, options) as AsyncIterable<Buffer>) chunks.push(chunk);
    return Buffer.concat(chunks);
  }

  /** A TCP connection made from inside the guest, once the agent reports it connected. */
  async tcpConnect(port: number, host?: string, options: CallOptions = {}): Promise<Duplex> {
    const stream = this.openStream('tcp.connect', host === undefined ? { port } : { port, host }, options.signal, CONTENT);
    return new Promise<Duplex>((resolve, reject) => {
      stream.onControl((message) => {
        if (message.event !== 'connected') return;
        // Made here, synchronously, so DATA right behind the CONTROL finds its channel,
        // and not before, so a refused connection has no stream nobody listens to.
        resolve(new TcpTunnel(stream.readable(Channel.stdout), stream.writable(Channel.stdin), () => stream.cancel()));
      });
      stream.result.then(
        () => reject(new SandboxError('agent_protocol', 'the agent ended tcp.connect without connecting')),
        reject,
      );
    });
  }

  /** Round trip time in ms. */
  async ping(options: CallOptions = {}): Promise<number> {
    this.assertOpen();
    const payload = randomBytes(16);
    const key = payload.toString('hex');
    const started = performance.now();
    await new Promise<void>((resolve, reject) => {
      const abort = () => {
        this.pings.delete(key);
        reject(new SandboxError('cancelled', 'the ping was cancelled'));
      };
      if (options.signal?.aborted) return abort();
      options.signal?.addEventListener('abort', abort, { once: true });
      const settle = (error?: SandboxError) => {
        options.signal?.removeEventListener('abort', abort);
        if (error) reject(error);
        else resolve();
      };
      this.pings.set(key, settle);
      this.send(encodeFrame({ type: FrameType.PING, channel: 0, stream: 0, payload }));
    });
    return performance.now() - started;
  }

  /** Ends the session and the transport. */
  close(): void {
    if (this.state === 'closed') return;
    this.end(new SandboxError('agent_unreachable', 'the agent client was closed'), null);
    if (this.transport instanceof Duplex) {
      this.transport.destroy();
    } else {
      this.writable.end();
      this.readable.destroy();
    }
  }

  // ---- session -------------------------------------------------------------------

  /** @internal StreamSession */
  send(frame: Buffer): void {
    if (this.state === 'closed' || this.writable.destroyed) return;
    this.writable.write(frame);
  }

  /** @internal StreamSession */
  release(id: number): void {
    this.streams.delete(id);
  }

  private openStream(op: string, args: object, signal: AbortSignal | undefined, policy: ChannelPolicy): AgentStream {
    this.assertOpen();
    while (this.streams.has(this.nextStreamId) || this.nextStreamId === 0) {
      this.nextStreamId = (this.nextStreamId + 1) >>> 0;
    }
    const id = this.nextStreamId;
    this.nextStreamId = (id + 1) >>> 0;
    const stream = new AgentStream(id, this, { ...policy, signal });
    this.streams.set(id, stream);
    stream.open(op, args);
    return stream;
  }

  private assertOpen(): void {
    if (this.state === 'open') return;
    throw this.endReason ?? new SandboxError('agent_unreachable', 'the session has not started');
  }

  private async handshake(options: ConnectOptions): Promise<void> {
    const deadlineMs = options.deadlineMs ?? DEFAULT_DEADLINE_MS;
    let retry: NodeJS.Timeout | undefined;
    let deadline: NodeJS.Timeout | undefined;
    const greet = () => {
      // A fresh nonce per attempt: a late reply to an earlier attempt would be followed
      // by the agent resetting the session for the later one.
      const nonce = randomBytes(16).toString('hex');
      this.reader.awaitHello(nonce);
      this.send(encodeGreeting(nonce, CLIENT_NAME));
    };
    const abort = () => this.end(new SandboxError('cancelled', 'connecting to the guest agent was cancelled'), null);
    try {
      await new Promise<void>((resolve, reject) => {
        this.onHello = resolve;
        this.closed.then((reason) => reject(reason ?? this.endReason));
        if (options.signal?.aborted) return abort();
        options.signal?.addEventListener('abort', abort, { once: true });
        deadline = setTimeout(() => {
          this.end(new SandboxError('agent_unreachable', `the guest agent did not answer within ${deadlineMs} ms`), null);
        }, deadlineMs);
        greet();
        retry = setInterval(greet, agentProtocol.helloRetryMs);
      });
    } finally {
      options.signal?.removeEventListener('abort', abort);
      clearInterval(retry);
      clearTimeout(deadline);
      this.onHello = null;
    }
  }

  private acceptHello(payload: Buffer): void {
    const hello = decodeHello(payload);
    if (hello.version !== agentProtocol.version) {
      throw new SandboxError('agent_protocol', `the agent speaks protocol version ${hello.version}, this client ${agentProtocol.version}`);
    }
    for (const key of ['window', 'maxData'] as const) {
      if (!Number.isInteger(hello[key]) || hello[key] <= 0) {
        throw new SandboxError('agent_protocol', `the agent's HELLO has no valid ${key}`);
      }
    }
    this.hello = hello;
    this.state = 'open';
    this.onHello?.();
  }

  private dispatch(frame: Frame): void {
    if (this.state === 'handshake') {
      this.acceptHello(frame.payload);
      return;
    }
    if (this.state === 'closed') return;
    switch (frame.type) {
      case FrameType.PONG: {
        const key = frame.payload.toString('hex');
        const done = this.pings.get(key);
        this.pings.delete(key);
        done?.();
        return;
      }
      case FrameType.ERROR: {
        const error = parseError(frame.payload);
        this.end(error, error);
        return;
      }
      case FrameType.DATA:
      case FrameType.EOF:
      case FrameType.WINDOW:
      case FrameType.CONTROL:
      case FrameType.END:
        // Frames for a stream we no longer know are for one that was just cancelled.
        this.streams.get(frame.stream)?.handle(frame);
        return;
      default:
        throw new SandboxError('agent_protocol', `the agent sent frame type ${frame.type} mid-session`);
    }
  }

  private attach(): void {
    const on = (emitter: EventEmitter, event: string, listener: Parameters<EventEmitter['on']>[1]) => {
      emitter.on(event, listener);
      this.detachers.push(() => emitter.off(event, listener));
    };
    const lost = (cause?: Error) => {
      const detail = cause ? `: ${cause.message}` : '';
      const error = new SandboxError('agent_unreachable', `the connection to the guest agent ended${detail}`);
      this.end(error, error);
    };
    on(this.readable, 'data', (chunk: Buffer) => {
      try {
        this.reader.push(chunk);
      } catch (error) {
        const reason =
          error instanceof SandboxError ? error : new SandboxError('agent_protocol', `agent session failed: ${String(error)}`);
        this.end(reason, reason);
      }
    });
    on(this.readable, 'end', () => lost());
    on(this.readable, 'close', () => lost());
    on(this.readable, 'error', (error: Error) => lost(error));
    if (!(this.transport instanceof Duplex)) {
      on(this.writable, 'close', () => lost());
      on(this.writable, 'error', (error: Error) => lost(error));
    }
    this.readable.resume();
    if (this.readable.readableEnded || this.readable.destroyed || this.writable.destroyed) lost();
    // Bytes after a session ERROR belong to whichever session is started next on this
    // transport; they must wait for it rather than flow to nobody.
    this.detachers.push(() => {
      if (this.readable.listenerCount('data') === 0) this.readable.pause();
    });
  }

  /** `failure` is what observers see as the session's error; null for an orderly end. */
  private end(reason: SandboxError, failure: SandboxError | null): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.endReason = reason;
    for (const detach of this.detachers.splice(0)) detach();
    // A transport outlives its session: a peer that vanished may still report, e.g.,
    // ECONNRESET on it. Nobody is interested by then, and it must not crash the host.
    swallowLateErrors(this.readable);
    swallowLateErrors(this.writable);
    for (const stream of this.streams.values()) stream.lose(reason);
    this.streams.clear();
    for (const settle of this.pings.values()) settle(reason);
    this.pings.clear();
    this.resolveClosed(failure);
    this.emit('close', failure);
    // The failure also reaches `closed`, 'close' and every pending call; a session
    // nobody listens to must not crash the host process with an unhandled 'error'.
    if (failure !== null && this.listenerCount('error') > 0) this.emit('error', failure);
  }
}

const quietTransports = new WeakSet<EventEmitter>();

function swallowLateErrors(emitter: EventEmitter): void {
  if (quietTransports.has(emitter)) return;
  quietTransports.add(emitter);
  emitter.on('error', () => {});
}

function parseError(payload: Buffer): SandboxError {
  try {
    const value = JSON.parse(payload.toString('utf8')) as { code?: unknown; message?: unknown };
    if (typeof value.code === 'string') {
      return new SandboxError(value.code, typeof value.message === 'string' ? value.message : value.code);
    }
  } catch {
    // reported below
  }
  return new SandboxError('agent_protocol', 'the agent sent an unreadable session ERROR');
}

import { PassThrough, Readable } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import type { WebSocket } from 'ws';
import { ExecChannel, MAX_EXEC_OUTPUT_BYTES, type ExecClientMessage, type ExecServerMessage, type ExecStartMessage } from '../shared/api/exec-schemas.js';
import type { MicrovmClient } from './microvm-client.js';
import { MicrovmError } from './microvm-error.js';

export interface ExecOptions {
  /** Called with each piece of decoded (UTF-8) stdout as it arrives. */
  onStdout?: (text: string) => void;
  onStderr?: (text: string) => void;
  /** Everything the process reads on stdin; without it the process reads /dev/null. */
  stdin?: string | Buffer | Readable;
  /** Absolute guest directory to run in. */
  cwd?: string;
  env?: Record<string, string>;
  user?: string;
  /** The process is killed after this long and the result says timedOut. */
  timeoutMs?: number;
  /** Run on a pseudo-terminal of this size (stdout and stderr then arrive merged on stdout). */
  pty?: { rows: number; cols: number };
}

export interface SpawnOptions extends Omit<ExecOptions, 'stdin'> {
  /** true keeps stdin open for writeStdin()/closeStdin(); data is sent, then stdin is closed. */
  stdin?: boolean | string | Buffer | Readable;
}

export interface ExecOutput {
  /** Null when a signal ended the process. */
  exitCode: number | null;
  signal: string | null;
  timedOut: boolean;
  durationMs: number;
  stdout: string;
  stderr: string;
  /** Output kept for this result is capped per stream (the callbacks and streams still see all of it). */
  stdoutTruncated: boolean;
  stderrTruncated: boolean;
}

/** Stdin waiting in the socket beyond this pauses reading the stdin source. */
const STDIN_HIGH_WATER_BYTES = 1024 * 1024;
/** Stdin frames stay well under the daemon's 4 MiB WebSocket message limit. */
const STDIN_FRAME_BYTES = 256 * 1024;
const DRAIN_POLL_MS = 5;

class OutputCollector {
  private readonly decoder = new StringDecoder('utf8');
  private readonly kept: string[] = [];
  private keptBytes = 0;
  truncated = false;

  constructor(
    private readonly stream: PassThrough,
    private readonly onText: ((text: string) => void) | undefined,
  ) {}

  add(bytes: Buffer): void {
    // A reader that stopped early (break out of for-await) destroyed the stream; the result still collects.
    if (!this.stream.destroyed) this.stream.write(bytes);
    this.text(this.decoder.write(bytes), bytes.length);
  }

  finish(): string {
    this.text(this.decoder.end(), 0);
    if (!this.stream.destroyed) this.stream.end();
    return this.kept.join('');
  }

  private text(text: string, size: number): void {
    if (!text) return;
    this.onText?.(text);
    if (this.keptBytes + size > MAX_EXEC_OUTPUT_BYTES) this.truncated = true;
    else {
      this.kept.push(text);
      this.keptBytes += size;
    }
  }
}

/**
 * A process running in a sandbox, driven over the exec WebSocket (protocol in
 * src/shared/api/exec-schemas.ts). stdout and stderr are Readables; output nobody reads
 * is held in memory, so read them, pass onStdout/onStderr, or resume() them.
 */
export class ExecHandle {
  readonly stdout = new PassThrough();
  readonly stderr = new PassThrough();
  private pidValue = 0;
  private stdinOpen: boolean;
  private finished = false;
  /** Why the stdin source failed: the process was killed for it, and wait() reports it. */
  private stdinFailure: Error | undefined;
  private readonly result: Promise<ExecOutput>;

  private constructor(
    private readonly socket: WebSocket,
    private readonly target: string,
    options: SpawnOptions,
    started: { resolve: (pid: number) => void; reject: (error: Error) => void },
  ) {
    this.stdinOpen = options.stdin !== undefined && options.stdin !== false;
    const out = new OutputCollector(this.stdout, options.onStdout);
    const err = new OutputCollector(this.stderr, options.onStderr);
    let exit: Extract<ExecServerMessage, { type: 'exit' }> | undefined;
    let failure: MicrovmError | undefined;
    this.result = new Promise<ExecOutput>((resolve, reject) => {
      socket.on('message', (data: Buffer, isBinary: boolean) => {
        if (isBinary) {
          if (data[0] === ExecChannel.stdout) out.add(data.subarray(1));
          else if (data[0] === ExecChannel.stderr) err.add(data.subarray(1));
          return;
        }
        const message = JSON.parse(data.toString('utf8')) as ExecServerMessage;
        if (message.type === 'started') {
          this.pidValue = message.pid;
          started.resolve(message.pid);
        } else if (message.type === 'exit') exit = message;
        else if (message.type === 'error') failure = new MicrovmError(message.code, message.message);
      });
      // Failures surface through 'close'; an unhandled 'error' event would crash the caller.
      socket.on('error', () => undefined);
      socket.once('close', (code: number) => {
        this.finished = true;
        this.stdinOpen = false;
        const stdout = out.finish();
        const stderr = err.finish();
        if (this.stdinFailure) {
          reject(this.stdinFailure);
          return;
        }
        if (exit) {
          const { exitCode, signal, timedOut, durationMs } = exit;
          resolve({ exitCode, signal, timedOut, durationMs, stdout, stderr, stdoutTruncated: out.truncated, stderrTruncated: err.truncated });
          return;
        }
        const error = failure ?? new MicrovmError('daemon_unreachable', `the exec connection to ${this.target} closed (code ${code}) before the process exited`);
        started.reject(error);
        reject(error);
      });
    });
    // wait() hands the rejection to whoever asks; nobody asking must not crash the process.
    this.result.catch(() => undefined);
  }

  /** Starts a process and resolves once it runs (its pid known). */
  static async start(client: MicrovmClient, sandboxId: string, command: string | string[], options: SpawnOptions = {}): Promise<ExecHandle> {
    const start: ExecStartMessage = {
      type: 'start',
      ...(typeof command === 'string' ? { shell: command } : { argv: command }),
      ...(options.env ? { env: options.env } : {}),
      ...(options.cwd !== undefined ? { cwd: options.cwd } : {}),
      ...(options.user !== undefined ? { user: options.user } : {}),
      ...(options.timeoutMs !== undefined ? { timeoutMs: options.timeoutMs } : {}),
      ...(options.pty ? { pty: options.pty } : {}),
      stdin: options.stdin !== undefined && options.stdin !== false,
    };
    const socket = await client.websocket(`/sandboxes/${encodeURIComponent(sandboxId)}/exec/ws`);
    let started!: { resolve: (pid: number) => void; reject: (error: Error) => void };
    const running = new Promise<number>((resolve, reject) => (started = { resolve, reject }));
    const handle = new ExecHandle(socket, client.target, options, started);
    socket.send(JSON.stringify(start));
    // The daemon reads nothing but the start message until the process runs: stdin waits for 'started'.
    await running;
    const source = options.stdin;
    if (source !== undefined && typeof source !== 'boolean') void handle.pump(source);
    return handle;
  }

  get pid(): number {
    return this.pidValue;
  }

  /** Resolves when the process exits; a non-zero exit is a result, not an error. */
  wait(): Promise<ExecOutput> {
    return this.result;
  }

  /** Sends bytes to the process's stdin, resolving once the socket has room for more. */
  async writeStdin(data: string | Buffer | Uint8Array): Promise<void> {
    const bytes = typeof data === 'string' ? Buffer.from(data) : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    for (let offset = 0; offset < bytes.length || offset === 0; offset += STDIN_FRAME_BYTES) {
      if (!this.stdinOpen) {
        throw new MicrovmError('invalid_state', this.finished ? 'stdin: the process has exited' : 'stdin: closed, or not opened (spawn with { stdin: true })');
      }
      if (bytes.length === 0) return;
      this.socket.send(Buffer.concat([Buffer.of(ExecChannel.stdin), bytes.subarray(offset, offset + STDIN_FRAME_BYTES)]));
      await this.drained();
    }
  }

  /** Closes stdin: the process reads end-of-file. */
  closeStdin(): void {
    if (!this.stdinOpen) return;
    this.stdinOpen = false;
    this.control({ type: 'eof' });
  }

  /** SIGKILL to the process group; wait() then resolves with signal 'SIGKILL'. */
  kill(): void {
    // The protocol's `kill` message cancels the stream and ends in an error instead of an exit result.
    this.control({ type: 'signal', signal: 'SIGKILL' });
  }

  /** Sends a signal by name: 'SIGINT', 'SIGTERM', or without the SIG prefix. */
  signal(name: string): void {
    const signal = name.toUpperCase().startsWith('SIG') ? name.toUpperCase() : `SIG${name.toUpperCase()}`;
    if (!/^SIG[A-Z0-9]+$/.test(signal)) throw new MicrovmError('invalid_argument', `signal: "${name}" is not a signal name (e.g. SIGTERM)`);
    this.control({ type: 'signal', signal });
  }

  /** Resizes the pseudo-terminal of a process started with `pty`. */
  resize(rows: number, cols: number): void {
    this.control({ type: 'resize', rows, cols });
  }

  private control(message: ExecClientMessage): void {
    if (!this.finished && this.socket.readyState === this.socket.OPEN) this.socket.send(JSON.stringify(message));
  }

  private async drained(): Promise<void> {
    while (this.socket.bufferedAmount > STDIN_HIGH_WATER_BYTES && this.socket.readyState === this.socket.OPEN) {
      await new Promise((resolve) => setTimeout(resolve, DRAIN_POLL_MS));
    }
  }

  /** Feeds a whole stdin source, then closes stdin; reading pauses while the socket is full. */
  private async pump(source: string | Buffer | Readable): Promise<void> {
    try {
      if (source instanceof Readable) {
        for await (const chunk of source) {
          if (this.finished) break;
          await this.writeStdin(chunk as Buffer | string);
        }
      } else {
        await this.writeStdin(source);
      }
      this.closeStdin();
    } catch (error) {
      if (this.finished) return;
      // A stdin source that fails would leave the process waiting for input forever: end it.
      this.stdinFailure = error instanceof Error ? error : new Error(String(error));
      this.kill();
    } finally {
      if (source instanceof Readable && this.finished) source.destroy();
    }
  }
}

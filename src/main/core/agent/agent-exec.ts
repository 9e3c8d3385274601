import type { Readable, Writable } from 'node:stream';
import { SandboxError } from '../errors/sandbox-error.js';
import { Channel } from './agent-frames.js';
import type { AgentStream } from './agent-stream.js';
import type { ExecRequest, ExecResult } from './agent-types.js';

/**
 * A process running in the guest, shaped like a child process: its output streams return
 * flow-control credit as they are read, so output nobody reads eventually blocks the
 * process on its pipe (destroying a stream instead drains and drops what follows).
 */
export class ExecProcess {
  /** Null unless the request asked for `stdin: true`. */
  readonly stdin: Writable | null;
  readonly stdout: Readable;
  /** With a PTY all output is on stdout and this stream stays empty. */
  readonly stderr: Readable;
  readonly pid: Promise<number>;
  readonly result: Promise<ExecResult>;

  constructor(
    private readonly stream: AgentStream,
    request: ExecRequest,
  ) {
    this.stdout = stream.readable(Channel.stdout);
    this.stderr = stream.readable(Channel.stderr);
    this.stdin = request.stdin === true ? stream.writable(Channel.stdin) : null;
    this.result = stream.result as Promise<ExecResult>;
    this.pid = new Promise<number>((resolve, reject) => {
      stream.onControl((message) => {
        if (message.event === 'started' && typeof message.pid === 'number') resolve(message.pid);
      });
      stream.result.then(
        () => reject(new SandboxError('agent_protocol', 'the exec ended without reporting its pid')),
        reject,
      );
    });
    // The pid is optional to observe; a failed exec is reported by `result`.
    this.pid.catch(() => {});
  }

  /** Rejects if the process has already exited. */
  async resize(rows: number, cols: number): Promise<void> {
    this.command({ type: 'resize', rows, cols });
  }

  /** Signals the process group, e.g. `signal('SIGTERM')`; rejects if the process has already exited. */
  async signal(name: string): Promise<void> {
    this.command({ type: 'signal', signal: name });
  }

  /** Sends CANCEL: the agent kills the process group with SIGKILL, and `result` rejects with SandboxError('cancelled'). */
  kill(): void {
    this.stream.cancel();
  }

  private command(message: object): void {
    if (!this.stream.control(message)) throw new SandboxError('not_found', 'the process has already exited');
  }
}

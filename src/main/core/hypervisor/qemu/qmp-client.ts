import { EventEmitter } from 'node:events';
import { connect, type Socket } from 'node:net';
import { SandboxError } from '../../errors/sandbox-error.js';

interface Pending {
  resolve: (value: unknown) => void;
  reject: (error: Error) => void;
}

export interface QmpEvent {
  event: string;
  data?: Record<string, unknown>;
}

/**
 * A QMP connection: greeting, capabilities negotiation, then commands matched to their
 * replies by id, with asynchronous events (STOP, RESUME, SHUTDOWN…) emitted as 'event'.
 */
export class QmpClient extends EventEmitter {
  private buffer = '';
  private nextId = 1;
  private readonly pending = new Map<string, Pending>();
  private closedError: SandboxError | null = null;

  private constructor(private readonly socket: Socket) {
    super();
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => this.receive(chunk));
    socket.on('error', () => {});
    socket.on('close', () => this.fail(new SandboxError('hypervisor_error', 'the QMP connection closed')));
  }

  static async connect(path: string): Promise<QmpClient> {
    const socket = await new Promise<Socket>((resolve, reject) => {
      const s = connect(path);
      s.once('connect', () => resolve(s));
      s.once('error', reject);
    });
    const client = new QmpClient(socket);
    await client.greeting();
    await client.execute('qmp_capabilities');
    return client;
  }

  execute<T = unknown>(command: string, args?: Record<string, unknown>): Promise<T> {
    if (this.closedError) return Promise.reject(this.closedError);
    const id = String(this.nextId++);
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.socket.write(`${JSON.stringify({ execute: command, ...(args ? { arguments: args } : {}), id })}\n`);
    });
  }

  close(): void {
    this.socket.destroy();
  }

  private greetingWaiter: Pending | null = null;

  private greeting(): Promise<unknown> {
    return new Promise((resolve, reject) => {
      this.greetingWaiter = { resolve, reject };
    });
  }

  private receive(chunk: string): void {
    this.buffer += chunk;
    let newline: number;
    while ((newline = this.buffer.indexOf('\n')) >= 0) {
      const line = this.buffer.slice(0, newline).trim();
      this.buffer = this.buffer.slice(newline + 1);
      if (line) this.handle(JSON.parse(line) as Record<string, unknown>);
    }
  }

  private handle(message: Record<string, unknown>): void {
    if ('QMP' in message) {
      this.greetingWaiter?.resolve(message.QMP);
      this.greetingWaiter = null;
      return;
    }
    if ('event' in message) {
      this.emit('event', message as unknown as QmpEvent);
      return;
    }
    const id = String(message.id);
    const waiter = this.pending.get(id);
    if (!waiter) return;
    this.pending.delete(id);
    if ('error' in message) {
      const error = message.error as { class?: string; desc?: string };
      waiter.reject(new SandboxError('hypervisor_error', `QEMU refused: ${error.desc ?? error.class ?? 'unknown error'}`));
    } else {
      waiter.resolve(message.return);
    }
  }

  private fail(error: SandboxError): void {
    if (this.closedError) return;
    this.closedError = error;
    this.greetingWaiter?.reject(error);
    for (const waiter of this.pending.values()) waiter.reject(error);
    this.pending.clear();
    this.emit('close');
  }
}

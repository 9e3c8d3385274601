import type { ChildProcess } from 'node:child_process';
import { connect, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { SandboxError } from '../errors/sandbox-error.js';
import type { AgentTransport } from './agent-client.js';

export interface TransportOptions {
  /** How long to keep retrying while the socket does not exist or refuses yet. */
  deadlineMs?: number;
  signal?: AbortSignal;
}

const DEFAULT_DEADLINE_MS = 10_000;
const RETRY_MS = 50;
const MAX_REPLY_LINE = 64;

/**
 * Connects to a Unix socket the hypervisor creates (QEMU's `-chardev socket`), waiting
 * for it to appear: the hypervisor may not have created or started listening on it yet.
 */
export async function connectUnixSocket(path: string, options: TransportOptions = {}): Promise<Socket> {
  const deadline = Date.now() + (options.deadlineMs ?? DEFAULT_DEADLINE_MS);
  for (;;) {
    try {
      return await dial(path);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      const retriable = code === 'ENOENT' || code === 'ECONNREFUSED';
      if (!retriable) {
        throw new SandboxError('agent_unreachable', `cannot connect to the agent socket ${path}: ${(error as Error).message}`);
      }
      if (Date.now() >= deadline) {
        throw new SandboxError('agent_unreachable', `the agent socket ${path} did not accept a connection in time (${code})`);
      }
      if (options.signal?.aborted) throw new SandboxError('cancelled', `connecting to ${path} was cancelled`);
      await sleep(RETRY_MS, undefined, { signal: options.signal }).catch(() => undefined);
    }
  }
}

/**
 * Connects to a guest vsock port through Cloud Hypervisor's hybrid vsock socket:
 * `CONNECT <port>\n` answered by `OK <host port>\n`. CH closes the connection instead of
 * answering when nothing listens on the guest port.
 */
export async function connectChVsock(socketPath: string, port: number, options: TransportOptions = {}): Promise<Socket> {
  const socket = await connectUnixSocket(socketPath, options);
  try {
    socket.write(`CONNECT ${port}\n`);
    const line = await readLine(socket, port);
    if (!/^OK \d+$/.test(line)) {
      throw new SandboxError('agent_unreachable', `Cloud Hypervisor answered "${line}" to CONNECT ${port}`);
    }
    return socket;
  } catch (error) {
    socket.destroy();
    throw error;
  }
}

/** A spawned process's stdout and stdin, e.g. the agent started with `--listen stdio`. */
export function stdioTransport(child: ChildProcess): AgentTransport {
  if (child.stdout === null || child.stdin === null) {
    throw new SandboxError('invalid_argument', 'the agent process needs piped stdin and stdout');
  }
  return { readable: child.stdout, writable: child.stdin };
}

function dial(path: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect(path);
    socket.once('connect', () => {
      socket.off('error', reject);
      resolve(socket);
    });
    socket.once('error', reject);
  });
}

// One byte at a time: whatever follows the newline is the agent's and stays in the socket.
function readLine(socket: Socket, port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const bytes: number[] = [];
    const finish = (outcome: () => void) => {
      socket.off('readable', onReadable);
      socket.off('end', onEnd);
      socket.off('close', onEnd);
      socket.off('error', onError);
      outcome();
    };
    const onReadable = () => {
      let byte: Buffer | null;
      while ((byte = socket.read(1) as Buffer | null) !== null) {
        if (byte[0] === 0x0a) {
          finish(() => resolve(Buffer.from(bytes).toString('ascii')));
          return;
        }
        bytes.push(byte[0]!);
        if (bytes.length > MAX_REPLY_LINE) {
          finish(() => reject(new SandboxError('agent_unreachable', `Cloud Hypervisor sent no reply line to CONNECT ${port}`)));
          return;
        }
      }
    };
    const onEnd = () =>
      finish(() => reject(new SandboxError('agent_unreachable', `connection refused by guest port ${port}`)));
    const onError = (error: Error) =>
      finish(() => reject(new SandboxError('agent_unreachable', `vsock CONNECT ${port} failed: ${error.message}`)));
    socket.on('readable', onReadable);
    socket.on('end', onEnd);
    socket.on('close', onEnd);
    socket.on('error', onError);
  });
}

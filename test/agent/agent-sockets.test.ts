import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { AgentClient } from '../../src/main/core/agent/agent-client.js';
import { agentProtocol } from '../../src/main/core/agent/agent-frames.js';
import { connectChVsock, connectUnixSocket } from '../../src/main/core/agent/agent-transports.js';
import { startUnixAgent, type UnixAgent } from '../support/agent-on-host.js';

let agent: UnixAgent;
let dir: string;
const cleanups: Array<() => void | Promise<void>> = [];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'agent-sockets-'));
  // Connecting right after the spawn also exercises waiting for the socket to appear.
  agent = await startUnixAgent();
});

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

afterAll(async () => {
  await agent?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function session(socket: Socket): Promise<AgentClient> {
  const client = await AgentClient.connect(socket, { deadlineMs: 15_000 });
  cleanups.push(() => client.close());
  return client;
}

/**
 * Stands in for Cloud Hypervisor's hybrid vsock socket: reads `CONNECT <port>\n`, and for
 * the agent's port answers `OK <n>\n` and splices the connection to the agent's Unix
 * socket; for any other port it closes the connection, as CH does when nothing listens.
 */
async function chVsockStandIn(path: string, forward: (port: number) => string | null, reply = 'OK 1073741824\n'): Promise<Server> {
  const server = createServer((client) => {
    let line = '';
    const onData = (chunk: Buffer) => {
      line += chunk.toString('latin1');
      const newline = line.indexOf('\n');
      if (newline < 0) return;
      client.off('data', onData);
      client.pause();
      const target = forward(Number(/^CONNECT (\d+)$/.exec(line.slice(0, newline))?.[1]));
      if (target === null) {
        client.end();
        return;
      }
      if (target === 'reply-only') {
        client.write(reply);
        return;
      }
      const upstream = connect(target, () => {
        client.write(reply);
        client.pipe(upstream);
        upstream.pipe(client);
        client.resume();
      });
      upstream.on('error', () => client.destroy());
      client.on('error', () => upstream.destroy());
      client.on('close', () => upstream.destroy());
    };
    client.on('data', onData);
  });
  server.listen(path);
  await once(server, 'listening');
  cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return server;
}

describe('unix socket listener', () => {
  it('serves a session per connection, concurrently', async () => {
    const [a, b] = await Promise.all([
      connectUnixSocket(agent.socketPath, { deadlineMs: 15_000 }).then(session),
      connectUnixSocket(agent.socketPath, { deadlineMs: 15_000 }).then(session),
    ]);
    const [ra, rb] = await Promise.all([a.run({ shell: 'echo a' }), b.run({ shell: 'echo b' })]);
    expect(ra.stdout.toString()).toBe('a\n');
    expect(rb.stdout.toString()).toBe('b\n');
  });

  it('kills the processes of a client that disconnects mid-stream', async () => {
    const socket = await connectUnixSocket(agent.socketPath);
    const first = await session(socket);
    const proc = first.exec({ argv: ['sleep', '1000'] });
    const pid = await proc.pid;
    socket.destroy();
    await expect(proc.result).rejects.toMatchObject({ code: 'agent_unreachable' });
    expect(await first.closed).toMatchObject({ code: 'agent_unreachable' });

    const second = await session(await connectUnixSocket(agent.socketPath));
    const gone = await second.run({ shell: `while kill -0 ${pid} 2>/dev/null; do sleep 0.05; done; echo gone`, timeoutMs: 20_000 });
    expect(gone.timedOut).toBe(false);
    expect(gone.stdout.toString()).toBe('gone\n');
  });

  it('gives up with agent_unreachable when the socket never appears', async () => {
    await expect(connectUnixSocket(join(dir, 'never.sock'), { deadlineMs: 200 })).rejects.toMatchObject({
      code: 'agent_unreachable',
    });
  });
});

describe('Cloud Hypervisor hybrid vsock', () => {
  it('reaches the agent through CONNECT/OK', async () => {
    const path = join(dir, 'ch-vsock.sock');
    const seen: number[] = [];
    await chVsockStandIn(path, (port) => {
      seen.push(port);
      return port === agentProtocol.vsockPort ? agent.socketPath : null;
    });
    const client = await session(await connectChVsock(path, agentProtocol.vsockPort));
    await expect(client.info()).resolves.toMatchObject({ protocol: 1 });
    expect(seen).toEqual([agentProtocol.vsockPort]);
  });

  it('reports a port nobody listens on as refused by the guest', async () => {
    const path = join(dir, 'ch-vsock-refuse.sock');
    await chVsockStandIn(path, () => null);
    await expect(connectChVsock(path, 4321)).rejects.toMatchObject({
      code: 'agent_unreachable',
      message: 'connection refused by guest port 4321',
    });
  });

  it('leaves the bytes after the OK line in the socket', async () => {
    const path = join(dir, 'ch-vsock-extra.sock');
    await chVsockStandIn(path, () => 'reply-only', 'OK 77\nMVMAGENT-and-more');
    const socket = await connectChVsock(path, 1024);
    cleanups.push(() => void socket.destroy());
    const [first] = (await once(socket, 'data')) as [Buffer];
    expect(first.toString()).toBe('MVMAGENT-and-more');
  });

  it('rejects a reply that is not OK', async () => {
    const path = join(dir, 'ch-vsock-garbled.sock');
    await chVsockStandIn(path, () => 'reply-only', 'NOPE\n');
    await expect(connectChVsock(path, 1024)).rejects.toMatchObject({ code: 'agent_unreachable', message: /NOPE/ });
  });
});

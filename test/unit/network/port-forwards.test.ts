import { EventEmitter, once } from 'node:events';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { SandboxError } from '../../../src/main/core/errors/sandbox-error.js';
import { PortForwards, type ForwardTarget } from '../../../src/main/core/network/port-forwards.js';
import type { SandboxRecord } from '../../../src/main/core/store/sandbox-store.js';
import type { SandboxEvent } from '../../../src/shared/api/event-schemas.js';

/**
 * The forwards against a stand-in manager whose agent's tcpConnect reaches servers on this
 * host's loopback: guest port 7 is an echo server that answers only once the client has
 * finished sending (so it needs the half-close), guest port 9 resets every connection, and
 * every other guest port refuses.
 */
const ECHO = 7;
const RESETS = 9;

class FakeManager extends EventEmitter implements ForwardTarget {
  readonly records = new Map<string, Pick<SandboxRecord, 'id' | 'name' | 'state'>>();
  readonly guests = new Map<number, number>();
  readonly tunnels: Duplex[] = [];

  get(idOrName: string): SandboxRecord {
    const found = [...this.records.values()].find((r) => r.id === idOrName || r.name === idOrName);
    if (!found) throw new SandboxError('not_found', `no sandbox with id or name "${idOrName}"`);
    return found as SandboxRecord;
  }

  async agent(id: string) {
    const record = this.get(id);
    if (record.state !== 'running') throw new SandboxError('invalid_state', `cannot reach the agent of sandbox "${record.name}": it is ${record.state}`);
    return {
      tcpConnect: async (port: number, host?: string) => {
        expect(host).toBe('127.0.0.1');
        const local = this.guests.get(port);
        if (local === undefined) throw new SandboxError('connection_refused', `connection to 127.0.0.1:${port} refused in the guest`);
        const tunnel = connect({ port: local, host: '127.0.0.1', allowHalfOpen: true });
        await once(tunnel, 'connect');
        this.tunnels.push(tunnel);
        return tunnel;
      },
    };
  }

  destroy(id: string): void {
    const record = this.get(id);
    this.records.delete(record.id);
    this.emit('event', { type: 'state', id: record.id, name: record.name, state: 'stopped', reason: 'destroyed', at: Date.now() } satisfies SandboxEvent);
  }
}

let manager: FakeManager;
let forwards: PortForwards;
const servers: Server[] = [];

async function serve(handler: (socket: Socket) => void): Promise<number> {
  const server = createServer({ allowHalfOpen: true }, handler);
  servers.push(server);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return (server.address() as AddressInfo).port;
}

beforeAll(async () => {
  manager = new FakeManager();
  manager.guests.set(
    ECHO,
    await serve((socket) => {
      const chunks: Buffer[] = [];
      socket.on('data', (chunk: Buffer) => chunks.push(chunk));
      socket.on('end', () => socket.end(Buffer.concat([Buffer.from('echo:'), ...chunks])));
    }),
  );
  manager.guests.set(RESETS, await serve((socket) => socket.once('data', () => socket.resetAndDestroy())));
});
beforeEach(() => {
  manager.records.clear();
  manager.records.set('id-a', { id: 'id-a', name: 'a', state: 'running' });
  manager.records.set('id-b', { id: 'id-b', name: 'b', state: 'running' });
  forwards = new PortForwards(manager);
});
afterEach(() => forwards.stop());
afterAll(() => {
  for (const server of servers) server.close();
});

/** Sends `text`, half-closes, and reads until the other side ends: the answer, or the error that ended it. */
function exchange(port: number, text: string, host = '127.0.0.1'): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ port, host, allowHalfOpen: true });
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('end', () => {
      socket.end();
      resolve(Buffer.concat(chunks).toString());
    });
    socket.on('error', reject);
    socket.on('connect', () => socket.end(text));
  });
}

async function portIsFree(port: number): Promise<boolean> {
  const probe = createServer();
  return new Promise((resolve) => {
    probe.once('error', () => resolve(false));
    probe.listen(port, '127.0.0.1', () => probe.close(() => resolve(true)));
  });
}

function failure(promise: Promise<unknown>): Promise<SandboxError> {
  return promise.then(
    () => {
      throw new Error('expected a failure');
    },
    (error: unknown) => {
      expect(error).toBeInstanceOf(SandboxError);
      return error as SandboxError;
    },
  );
}

describe('a forward', () => {
  it('listens on 127.0.0.1 on a free port and carries a half-closed exchange both ways', async () => {
    const forward = await forwards.add('a', { guestPort: ECHO });
    expect(forward).toMatchObject({ sandboxId: 'id-a', sandboxName: 'a', guestPort: ECHO, address: '127.0.0.1', url: `http://127.0.0.1:${forward.hostPort}` });
    expect(forward.hostPort).toBeGreaterThan(0);
    expect(await exchange(forward.hostPort, 'hello')).toBe('echo:hello');
    // Connections are independent: several at once each get their own tunnel.
    const answers = await Promise.all(['one', 'two', 'three'].map((text) => exchange(forward.hostPort, text)));
    expect(answers).toEqual(['echo:one', 'echo:two', 'echo:three']);
  });

  it('carries a large transfer intact, with back-pressure', async () => {
    const forward = await forwards.add('a', { guestPort: ECHO });
    const big = 'x'.repeat(8 * 1024 * 1024);
    expect((await exchange(forward.hostPort, big)).length).toBe(big.length + 'echo:'.length);
  });

  it('is listed per sandbox and in all, by host port', async () => {
    const first = await forwards.add('a', { guestPort: ECHO });
    const second = await forwards.add('id-b', { guestPort: 8000, address: '::1' });
    expect(forwards.list('a').map((f) => f.hostPort)).toEqual([first.hostPort]);
    expect(forwards.list('b')).toEqual([expect.objectContaining({ sandboxName: 'b', guestPort: 8000, address: '::1', url: `http://[::1]:${second.hostPort}` })]);
    expect(forwards.list().map((f) => f.hostPort)).toEqual([first.hostPort, second.hostPort].sort((x, y) => x - y));
    expect((await failure(Promise.resolve().then(() => forwards.list('nope')))).code).toBe('not_found');
  });

  it('resets the client when nothing listens on the guest port, or the guest resets', async () => {
    const refused = await forwards.add('a', { guestPort: 4444 });
    await expect(exchange(refused.hostPort, 'hi')).rejects.toMatchObject({ code: 'ECONNRESET' });
    const resets = await forwards.add('a', { guestPort: RESETS });
    await expect(exchange(resets.hostPort, 'hi')).rejects.toMatchObject({ code: 'ECONNRESET' });
    // The forward itself stays.
    expect(forwards.list('a')).toHaveLength(2);
  });

  it('stays listed while its sandbox is stopped, and closes connections at once meanwhile', async () => {
    const forward = await forwards.add('a', { guestPort: ECHO });
    manager.records.set('id-a', { id: 'id-a', name: 'a', state: 'stopped' });
    manager.emit('event', { type: 'state', id: 'id-a', name: 'a', state: 'stopped', reason: 'the guest powered off', at: Date.now() } satisfies SandboxEvent);
    expect(forwards.list('a')).toHaveLength(1);
    await expect(exchange(forward.hostPort, 'hi')).rejects.toMatchObject({ code: 'ECONNRESET' });
    manager.records.set('id-a', { id: 'id-a', name: 'a', state: 'running' });
    expect(await exchange(forward.hostPort, 'back')).toBe('echo:back');
  });

  it('can be opened on a stopped sandbox', async () => {
    manager.records.set('id-a', { id: 'id-a', name: 'a', state: 'stopped' });
    expect((await forwards.add('a', { guestPort: ECHO })).guestPort).toBe(ECHO);
  });
});

describe('host ports', () => {
  it('refuses a port another program holds, with port_in_use naming it', async () => {
    const holder = await serve(() => undefined);
    const error = await failure(forwards.add('a', { guestPort: ECHO, hostPort: holder }));
    expect(error.code).toBe('port_in_use');
    expect(error.message).toContain(`127.0.0.1:${holder} is already in use`);
    expect(error.details).toMatchObject({ field: 'hostPort', hostPort: holder });
  });

  it('names one forward in the whole daemon, on any address', async () => {
    const forward = await forwards.add('a', { guestPort: ECHO });
    for (const [sandbox, address] of [['a', '127.0.0.1'], ['b', '127.0.0.2'], ['b', '::1']] as const) {
      const error = await failure(forwards.add(sandbox, { guestPort: 80, hostPort: forward.hostPort, address }));
      expect(error.code).toBe('port_in_use');
      expect(error.message).toMatch(new RegExp(`taken by a port forward of sandbox "a" \\(127\\.0\\.0\\.1:${forward.hostPort} → guest port ${ECHO}\\)`));
    }
  });

  it('refuses two adds of the same port at once', async () => {
    const { hostPort: port } = await forwards.add('a', { guestPort: ECHO });
    await forwards.remove('a', port);
    const results = await Promise.allSettled([forwards.add('a', { guestPort: ECHO, hostPort: port }), forwards.add('b', { guestPort: ECHO, hostPort: port })]);
    expect(results.map((r) => r.status).sort()).toEqual(['fulfilled', 'rejected']);
    expect((results.find((r) => r.status === 'rejected') as PromiseRejectedResult).reason).toMatchObject({ code: 'port_in_use' });
  });

  it('refuses an address that is not this host', async () => {
    const error = await failure(forwards.add('a', { guestPort: ECHO, address: '192.0.2.1', allowRemote: true }));
    expect(error.code).toBe('invalid_argument');
    expect(error.message).toMatch(/^address: 192\.0\.2\.1 is not an address of this host/);
  });

  it('refuses a non-loopback address without allowRemote, before listening', async () => {
    const error = await failure(forwards.add('a', { guestPort: ECHO, address: '0.0.0.0' }));
    expect(error).toMatchObject({ code: 'invalid_argument', details: { field: 'address' } });
    expect(forwards.list()).toEqual([]);
  });
});

describe('removal', () => {
  it('frees the port and closes the open connections', async () => {
    const forward = await forwards.add('a', { guestPort: ECHO });
    // A connection left open mid-exchange (the echo server answers only after the client's end).
    const open = connect({ port: forward.hostPort, host: '127.0.0.1' });
    await once(open, 'connect');
    open.write('partial');
    await waitFor(() => manager.tunnels.some((t) => !t.destroyed));
    const ended = new Promise((resolve) => open.once('close', resolve));
    open.on('error', () => undefined);

    await forwards.remove('a', forward.hostPort);
    await ended;
    expect(forwards.list('a')).toEqual([]);
    await expect(exchange(forward.hostPort, 'hi')).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    expect(await portIsFree(forward.hostPort)).toBe(true);
  });

  it('only of the sandbox that owns the port', async () => {
    const forward = await forwards.add('a', { guestPort: ECHO });
    const error = await failure(forwards.remove('b', forward.hostPort));
    expect(error.code).toBe('not_found');
    expect(error.message).toBe(`sandbox "b" has no port forward on host port ${forward.hostPort}`);
    expect((await failure(forwards.remove('nope', forward.hostPort))).code).toBe('not_found');
    expect(forwards.list('a')).toHaveLength(1);
  });

  it("of all a sandbox's forwards when it is destroyed, ports free by the time destroy returns", async () => {
    const mine = [await forwards.add('a', { guestPort: ECHO }), await forwards.add('a', { guestPort: 8000 })];
    const theirs = await forwards.add('b', { guestPort: ECHO });
    manager.destroy('id-a');
    for (const forward of mine) expect(await portIsFree(forward.hostPort)).toBe(true);
    expect(forwards.list().map((f) => f.hostPort)).toEqual([theirs.hostPort]);
    expect(await exchange(theirs.hostPort, 'still')).toBe('echo:still');
  });

  it('of everything on stop, after which no forward opens', async () => {
    const forward = await forwards.add('a', { guestPort: ECHO });
    await forwards.stop();
    expect(await portIsFree(forward.hostPort)).toBe(true);
    expect(forwards.list()).toEqual([]);
    expect((await failure(forwards.add('a', { guestPort: ECHO }))).code).toBe('invalid_state');
    // Stopped forwards no longer follow the manager.
    expect(manager.listenerCount('event')).toBe(0);
  });
});

async function waitFor(condition: () => boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

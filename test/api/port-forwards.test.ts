import { once } from 'node:events';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { projectRoot } from '../../src/main/core/paths/app-paths.js';
import { Sandbox, type ExecHandle, type PortForward } from '../../src/sdk/index.js';
import { startTestDaemon, type TestDaemon } from '../support/daemon-harness.js';
import { call, createSandbox, destroySandbox, expectProblem, ok, V1, type SandboxView } from './api-http.js';

/**
 * Port forwards against a real daemon and a real VM in network mode `none` (no NIC at
 * all): an HTTP server that listens only on the guest's 127.0.0.1 is reached from this
 * host's 127.0.0.1 through the agent. Every connection stays on loopback.
 */
const GUEST_PORT = 8000;
const PAGE = 'served from inside the sandbox\n';
const BIN = join(projectRoot(), 'bin', 'microvm.js');

let daemon: TestDaemon;
let sandbox: SandboxView;
let sdk: Sandbox;
let server: ExecHandle;

beforeAll(async () => {
  daemon = await startTestDaemon();
  sandbox = await createSandbox(daemon, { name: 'ports', template: 'ai-agent', vcpus: 1, memoryMiB: 512 });
  sdk = await Sandbox.connect(sandbox.id, { socketPath: daemon.socketPath });
  // The default network mode, none: the guest has no interface but loopback.
  expect((await sdk.exec(['ls', '/sys/class/net'])).stdout.trim()).toBe('lo');
  const prepared = await sdk.exec(['sh', '-c', `mkdir -p /tmp/www && printf '%s' "$1" > /tmp/www/page.txt`, 'sh', PAGE]);
  expect(prepared.exitCode).toBe(0);
  server = await sdk.spawn(['python3', '-m', 'http.server', String(GUEST_PORT), '--bind', '127.0.0.1', '--directory', '/tmp/www']);
  server.stdout.resume();
  server.stderr.resume();
});
let daemonStopped = false;
afterAll(async () => {
  if (daemonStopped) return;
  for (const { id } of (await ok<{ sandboxes: SandboxView[] }>(daemon, 'GET', `${V1}/sandboxes`)).sandboxes) await destroySandbox(daemon, id);
  expect(await daemon.stop()).toEqual([]);
});

/** GET through the forward; the error's code (ECONNREFUSED, ECONNRESET, …) when it fails. */
async function get(url: string): Promise<{ status: number; text: string } | { error: string }> {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(30_000) });
    return { status: response.status, text: await response.text() };
  } catch (error) {
    const cause = (error as { cause?: { code?: string } }).cause;
    return { error: cause?.code ?? (error as Error).name };
  }
}

/** The page, once the guest's server answers (it may still be starting). */
async function page(url: string): Promise<{ status: number; text: string }> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const answer = await get(`${url}/page.txt`);
    if ('status' in answer) return answer;
    if (Date.now() > deadline) throw new Error(`${url} did not answer: ${answer.error}`);
    await sleep(500);
  }
}

/** Whether this test can listen on the port itself: nothing holds it any more. */
async function canBind(port: number): Promise<boolean> {
  const probe = createServer();
  return new Promise((resolve) => {
    probe.once('error', () => resolve(false));
    probe.listen(port, '127.0.0.1', () => probe.close(() => resolve(true)));
  });
}

async function heldPort(): Promise<Server> {
  const holder = createServer();
  holder.listen(0, '127.0.0.1');
  await once(holder, 'listening');
  return holder;
}

describe('a port forward to a sandbox without a network', () => {
  let forward: PortForward;

  it('serves the HTTP server started inside it on 127.0.0.1', async () => {
    forward = await sdk.ports.add(GUEST_PORT);
    expect(forward).toMatchObject({ sandboxId: sandbox.id, sandboxName: 'ports', guestPort: GUEST_PORT, address: '127.0.0.1', url: `http://127.0.0.1:${forward.hostPort}` });
    expect(await page(forward.url)).toEqual({ status: 200, text: PAGE });
    // Keep-alive aside, each request is its own connection through its own tunnel.
    const answers = await Promise.all([1, 2, 3, 4].map(() => get(`${forward.url}/page.txt`)));
    expect(answers).toEqual(Array(4).fill({ status: 200, text: PAGE }));
  });

  it('is listed for the sandbox and among all', async () => {
    expect(await sdk.ports.list()).toEqual([forward]);
    expect((await ok<{ ports: PortForward[] }>(daemon, 'GET', `${V1}/sandboxes/ports/ports`)).ports).toEqual([forward]);
    expect((await ok<{ ports: PortForward[] }>(daemon, 'GET', `${V1}/ports`)).ports).toEqual([forward]);
  });

  it('refuses a host port that is taken, with port_in_use', async () => {
    const holder = await heldPort();
    try {
      const taken = (holder.address() as AddressInfo).port;
      const problem = expectProblem(await call(daemon, 'POST', `${V1}/sandboxes/ports/ports`, { json: { guestPort: GUEST_PORT, hostPort: taken } }), 409, 'port_in_use');
      expect(problem.detail).toContain(`127.0.0.1:${taken} is already in use`);
      const again = expectProblem(await call(daemon, 'POST', `${V1}/sandboxes/ports/ports`, { json: { guestPort: 22, hostPort: forward.hostPort } }), 409, 'port_in_use');
      expect(again.detail).toContain('taken by a port forward of sandbox "ports"');
    } finally {
      holder.close();
    }
  });

  it('refuses an address other machines reach unless allowRemote is given, naming address', async () => {
    for (const address of ['0.0.0.0', '::']) {
      const problem = expectProblem(await call(daemon, 'POST', `${V1}/sandboxes/ports/ports`, { json: { guestPort: GUEST_PORT, address } }), 400, 'invalid_argument');
      expect(problem.detail).toMatch(/^address: .* is not a loopback address.*allowRemote/);
      expect(problem.details).toEqual({ field: 'address' });
    }
    const named = expectProblem(await call(daemon, 'POST', `${V1}/sandboxes/ports/ports`, { json: { guestPort: GUEST_PORT, address: 'localhost' } }), 400, 'invalid_argument');
    expect(named.detail).toMatch(/^address: "localhost" is not an IPv4 or IPv6 address/);
    expectProblem(await call(daemon, 'POST', `${V1}/sandboxes/ports/ports`, { json: { guestPort: 0 } }), 400, 'invalid_argument');
    expectProblem(await call(daemon, 'POST', `${V1}/sandboxes/nope/ports`, { json: { guestPort: GUEST_PORT } }), 404, 'not_found');
    expect(await sdk.ports.list()).toEqual([forward]);
  });

  it('resets connections to a guest port nothing listens on, and while the sandbox is paused', async () => {
    const closed = await sdk.ports.add(GUEST_PORT + 1);
    expect(await get(`${closed.url}/`)).toEqual({ error: 'ECONNRESET' });
    await sdk.ports.remove(closed);

    await ok(daemon, 'POST', `${V1}/sandboxes/ports/pause`);
    try {
      expect(await get(`${forward.url}/page.txt`)).toEqual({ error: 'ECONNRESET' });
      expect(await sdk.ports.list()).toEqual([forward]);
    } finally {
      await ok(daemon, 'POST', `${V1}/sandboxes/ports/resume`);
    }
    expect(await page(forward.url)).toEqual({ status: 200, text: PAGE });
  });

  it('stops answering once removed, and the port is free', async () => {
    await ok(daemon, 'DELETE', `${V1}/sandboxes/ports/ports/${forward.hostPort}`, { status: 204 });
    expect(await get(`${forward.url}/page.txt`)).toEqual({ error: 'ECONNREFUSED' });
    expect(await canBind(forward.hostPort)).toBe(true);
    expect(await sdk.ports.list()).toEqual([]);
    expectProblem(await call(daemon, 'DELETE', `${V1}/sandboxes/ports/ports/${forward.hostPort}`), 404, 'not_found');
  });

  it('is added, listed and removed with the CLI', async () => {
    const microvm = (args: string[]) => execa(process.execPath, [BIN, ...args], { env: daemon.env, extendEnv: false, reject: false });
    const added = await microvm(['port', 'add', 'ports', String(GUEST_PORT), '--json']);
    expect(added.stderr).toBe('');
    expect(added.exitCode).toBe(0);
    const viaCli = JSON.parse(added.stdout) as PortForward;
    expect(await page(viaCli.url)).toEqual({ status: 200, text: PAGE });

    const listed = (await microvm(['port', 'ls', 'ports'])).stdout.split('\n');
    expect(listed[0]).toMatch(/^SANDBOX\s+HOST\s+GUEST PORT\s+URL$/);
    expect(listed[1]).toMatch(new RegExp(`^ports\\s+127\\.0\\.0\\.1:${viaCli.hostPort}\\s+${GUEST_PORT}\\s+http://127\\.0\\.0\\.1:${viaCli.hostPort}$`));
    expect(JSON.parse((await microvm(['port', 'ls', '--json'])).stdout)).toEqual([viaCli]);

    const refused = await microvm(['port', 'add', 'ports', String(GUEST_PORT), '--address', '0.0.0.0']);
    expect(refused.exitCode).toBe(2);
    expect(refused.stderr).toMatch(/^error: address: 0\.0\.0\.0 is not a loopback address.*--allow-remote/);

    const removed = await microvm(['port', 'rm', 'ports', String(viaCli.hostPort)]);
    expect(removed).toMatchObject({ exitCode: 0, stdout: String(viaCli.hostPort) });
    expect(await canBind(viaCli.hostPort)).toBe(true);
    const again = await microvm(['port', 'rm', 'ports', String(viaCli.hostPort)]);
    expect(again.exitCode).toBe(3);
  });

  it("frees the sandbox's ports when it is destroyed", async () => {
    const left = [await sdk.ports.add(GUEST_PORT), await sdk.ports.add(GUEST_PORT + 2)];
    expect(await page(left[0]!.url)).toEqual({ status: 200, text: PAGE });
    await destroySandbox(daemon, sandbox.id);
    for (const forward of left) {
      expect(await get(`${forward.url}/page.txt`)).toEqual({ error: 'ECONNREFUSED' });
      expect(await canBind(forward.hostPort)).toBe(true);
    }
    expect((await ok<{ ports: PortForward[] }>(daemon, 'GET', `${V1}/ports`)).ports).toEqual([]);
  });

  it("keeps a stopped sandbox's forwards, refusing connections, until the daemon stops and frees their ports", async () => {
    const other = await createSandbox(daemon, { name: 'ports-stopped', template: 'minimal', memoryMiB: 256 });
    const kept = (await ok<PortForward>(daemon, 'POST', `${V1}/sandboxes/${other.id}/ports`, { json: { guestPort: GUEST_PORT }, status: 201 }));
    await ok(daemon, 'POST', `${V1}/sandboxes/${other.id}/stop`);
    expect((await ok<{ ports: PortForward[] }>(daemon, 'GET', `${V1}/sandboxes/${other.id}/ports`)).ports).toEqual([kept]);
    expect(await get(`${kept.url}/`)).toEqual({ error: 'ECONNRESET' });

    daemonStopped = true;
    expect(await daemon.stop()).toEqual([]);
    expect(await get(`${kept.url}/`)).toEqual({ error: 'ECONNREFUSED' });
    expect(await canBind(kept.hostPort)).toBe(true);
  });
});

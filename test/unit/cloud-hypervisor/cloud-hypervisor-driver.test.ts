import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildGuestAgent } from '../../../src/main/core/build/guest-agent-build.js';
import { ChApiClient } from '../../../src/main/core/hypervisor/cloud-hypervisor/ch-api-client.js';
import { CloudHypervisorDriver } from '../../../src/main/core/hypervisor/cloud-hypervisor/cloud-hypervisor-driver.js';
import type { RunningVm, VmLaunchSpec } from '../../../src/main/core/hypervisor/hypervisor-driver.js';
import { readPidStartTicks } from '../../../src/main/core/hypervisor/process-identity.js';

const STANDIN = fileURLToPath(new URL('../../support/ch-standin/cloud-hypervisor', import.meta.url));

let root: string;
let kernel: string;
let initrd: string;
let driver: CloudHypervisorDriver;
let runs = 0;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'ch-driver-test-'));
  process.env.MICROVM_STANDIN_AGENT = (await buildGuestAgent()).path;
  // The stand-in's guest sockets land under root too, so the process check below sees them.
  process.env.MICROVM_STANDIN_SCRATCH = root;
  kernel = join(root, 'vmlinuz');
  initrd = join(root, 'initrd.img');
  await writeFile(kernel, 'kernel');
  await writeFile(initrd, 'initrd');
  driver = new CloudHypervisorDriver({ binary: STANDIN });
});

afterAll(async () => {
  // A stand-in's agent exits a moment after it (parent-death signal); a leak stays past the wait.
  const leftovers = await waitUntilNoProcessMentions(root);
  for (const pid of leftovers) process.kill(pid, 'SIGKILL');
  await rm(root, { recursive: true, force: true });
  expect(leftovers).toEqual([]);
});

async function newSpec(): Promise<VmLaunchSpec> {
  const runDir = join(root, `vm${++runs}`);
  await mkdir(runDir, { mode: 0o700 });
  return { id: `vm${runs}`, hostname: `box-${runs}`, kernel, initrd, cmdline: 'quiet panic=-1', vcpus: 2, memoryMiB: 256, runDir };
}

/** Pids whose command line contains text: the stand-in, and the agent and its unshare/setpriv. */
async function processesMentioning(text: string): Promise<number[]> {
  const pids: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    const cmdline = await readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '');
    if (cmdline.includes(text)) pids.push(Number(entry));
  }
  return pids;
}

/** The agent dies with the stand-in through its parent-death signal, a moment after it. */
async function waitUntilNoProcessMentions(text: string): Promise<number[]> {
  const deadline = Date.now() + 10_000;
  let pids = await processesMentioning(text);
  while (pids.length > 0 && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    pids = await processesMentioning(text);
  }
  return pids;
}

async function rawRequest(socketPath: string, bytes: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(socketPath, () => socket.write(bytes));
    let answer = '';
    socket.on('data', (chunk: Buffer) => {
      answer += chunk.toString('latin1');
      const headerEnd = answer.indexOf('\r\n\r\n');
      if (headerEnd < 0) return;
      const length = Number(/\r\nContent-Length: (\d+)/.exec(answer.slice(0, headerEnd))?.[1] ?? 0);
      if (answer.length >= headerEnd + 4 + length) {
        socket.destroy();
        resolve(answer);
      }
    });
    socket.on('error', reject);
  });
}

describe('CloudHypervisorDriver against the stand-in', () => {
  it('runs a VM through its whole life: boot, agent over vsock, pause, resume, power button, cleanup', async () => {
    const spec = await newSpec();
    const vm = await driver.launch(spec);
    expect(vm.handle).toMatchObject({
      kind: 'cloud-hypervisor',
      controlSocket: join(spec.runDir, 'api.sock'),
      serialLog: join(spec.runDir, 'serial.log'),
      agent: { kind: 'ch-vsock', path: join(spec.runDir, 'vsock.sock'), port: 1024 },
    });
    expect(vm.handle.pidStartTicks).toBe(await readPidStartTicks(vm.handle.pid));

    const agent = await vm.connectAgent(15_000);
    expect((await agent.info()).agentVersion).toBeTruthy();
    const run = await agent.run({ argv: ['sh', '-c', 'echo hello from the guest'] });
    expect(run.stdout.toString()).toBe('hello from the guest\n');
    agent.close();

    // The stand-in logs the command line it booted with to the serial file.
    const serial = await readFile(vm.handle.serialLog, 'utf8');
    expect(serial).toContain(`Command line: quiet panic=-1 microvm.hostname=box-${runs} console=ttyS0`);

    await vm.pause();
    expect(await vm.status()).toBe('paused');
    const again = await vm.pause().then(() => null, (error: unknown) => error);
    expect(again).toMatchObject({ code: 'invalid_state', message: expect.stringContaining('InvalidStateTransition(Paused, Paused)') });
    expect((again as Error).message).toContain('The VM could not be paused');

    await vm.resume();
    expect(await vm.status()).toBe('running');

    await vm.powerButton();
    expect(await vm.exited).toEqual({ clean: true, code: 0, signal: null });
    expect(await vm.status()).toBe('shutdown');
    expect(await readFile(vm.handle.serialLog, 'utf8')).toContain('reboot: Power down');

    await vm.cleanup();
    expect(await readdir(spec.runDir)).toEqual([]);
    expect(await waitUntilNoProcessMentions(root)).toEqual([]);
  });

  it('snapshots a running VM (pausing it only for the capture) and restores it on a fresh VMM in another run directory', async () => {
    const spec = await newSpec();
    const vm = await driver.launch(spec);
    const dir = join(root, `snapshot-${runs}`);
    await mkdir(dir);
    const saved = await vm.snapshot(dir);
    expect(await vm.status()).toBe('running');
    expect(saved.files.map((f) => f.name)).toEqual(['config.json', 'memory-ranges', 'state.json']);
    expect(saved.files.find((f) => f.name === 'memory-ranges')?.size).toBe(256 * 1024 * 1024);
    expect(saved.vmmVersion).toMatch(/^\d+\.\d+/);
    expect(saved.pauseMs).toBeGreaterThan(0);
    // CH creates the files exclusively: a second capture into the same directory fails.
    await expect(vm.snapshot(dir)).rejects.toMatchObject({ message: expect.stringContaining('The VM could not be snapshotted') });
    expect(await vm.status()).toBe('running');
    await vm.kill();
    await vm.cleanup();

    const target = await newSpec();
    const restored = await driver.restore(target, dir);
    expect(await restored.status()).toBe('running');
    expect(restored.handle.agent).toEqual({ kind: 'ch-vsock', path: join(target.runDir, 'vsock.sock'), port: 1024 });
    const agent = await restored.connectAgent(15_000);
    expect((await agent.run({ argv: ['true'] })).exitCode).toBe(0);
    agent.close();
    expect(await readFile(restored.handle.serialLog, 'utf8')).toContain('restored from snapshot');
    // The snapshot's own config.json still names the original run directory; the staged copy is gone.
    expect(JSON.parse(await readFile(join(dir, 'config.json'), 'utf8')).vsock.socket).toBe(join(spec.runDir, 'vsock.sock'));
    expect(await readdir(target.runDir)).not.toContain('restore');
    await restored.kill();
    await restored.cleanup();
    expect(await readdir(target.runDir)).toEqual([]);
  });

  it('gives the VM its TAP and MAC, and a restored copy (a fork) its own', async () => {
    const netConfig = async (vm: RunningVm) => ((await new ChApiClient(vm.handle.controlSocket).info()) as { config?: { net?: unknown } }).config?.net;
    const spec = { ...(await newSpec()), nic: { mac: '02:00:00:00:00:01', backend: { kind: 'tap' as const, tap: 'mvtorigin' }, cmdline: 'microvm.net=10.213.0.2/24,10.213.0.1,10.213.0.1' } };
    const vm = await driver.launch(spec);
    expect(await netConfig(vm)).toEqual([{ tap: 'mvtorigin', mac: '02:00:00:00:00:01' }]);
    expect(await readFile(vm.handle.serialLog, 'utf8')).toContain('microvm.net=10.213.0.2/24,10.213.0.1,10.213.0.1');
    const dir = join(root, `snapshot-${runs}`);
    await mkdir(dir);
    await vm.snapshot(dir);
    await vm.kill();
    await vm.cleanup();

    const fork = { ...(await newSpec()), nic: { mac: '02:00:00:00:00:02', backend: { kind: 'tap' as const, tap: 'mvtfork' }, cmdline: '' } };
    const restored = await driver.restore(fork, dir);
    expect(await netConfig(restored)).toEqual([{ tap: 'mvtfork', mac: '02:00:00:00:00:02' }]);
    await restored.kill();
    await restored.cleanup();
  });

  it('reports a restore the VMM refuses (missing state file) and leaves nothing running', async () => {
    const spec = await newSpec();
    const vm = await driver.launch(spec);
    const dir = join(root, `snapshot-${runs}`);
    await mkdir(dir);
    await vm.snapshot(dir);
    await vm.kill();
    await vm.cleanup();
    await rm(join(dir, 'state.json'));
    const target = await newSpec();
    await expect(driver.restore(target, dir)).rejects.toMatchObject({ code: 'hypervisor_error', message: expect.stringContaining('The VM could not be restored') });
    expect(await readdir(target.runDir)).toEqual([]);
  });

  it('removes a stale API socket before starting, which the stand-in (like CH up to v52) would refuse', async () => {
    const spec = await newSpec();
    const apiSocket = join(spec.runDir, 'api.sock');
    // A crashed VMM leaves its socket behind.
    const crashed = spawn(STANDIN, ['--api-socket', `path=${apiSocket}`], { stdio: 'ignore' });
    while (!(await stat(apiSocket).then(() => true, () => false))) await new Promise((resolve) => setTimeout(resolve, 25));
    crashed.kill('SIGKILL');
    await new Promise((resolve) => crashed.once('exit', resolve));
    expect((await stat(apiSocket)).isSocket()).toBe(true);

    const refused = spawn(STANDIN, ['--api-socket', `path=${apiSocket}`], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    refused.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const code = await new Promise<number | null>((resolve) => refused.once('exit', resolve));
    expect(code).toBe(1);
    expect(stderr).toContain('Address already in use');

    const vm = await driver.launch(spec);
    expect(await vm.status()).toBe('running');
    await vm.kill();
    await vm.cleanup();
    expect(await readdir(spec.runDir)).toEqual([]);
  });

  it('adopts a live VM by pid, start time and API socket, and refuses anything else', async () => {
    const first = await newSpec();
    const second = await newSpec();
    const vm = await driver.launch(first);
    const other = await driver.launch(second);
    try {
      const adopted = await driver.adopt(vm.handle);
      expect(adopted).not.toBeNull();
      expect(await adopted!.status()).toBe('running');
      const agent = await adopted!.connectAgent(15_000);
      expect((await agent.run({ argv: ['true'] })).exitCode).toBe(0);
      agent.close();

      // The same pid with another start time: the pid was reused by another process.
      expect(await driver.adopt({ ...vm.handle, pidStartTicks: vm.handle.pidStartTicks + 1 })).toBeNull();
      // A live process of ours whose control socket belongs to another CH.
      expect(await driver.adopt({ ...vm.handle, controlSocket: other.handle.controlSocket })).toBeNull();
      // Not a Cloud Hypervisor handle at all.
      expect(await driver.adopt({ ...vm.handle, kind: 'qemu' })).toBeNull();

      await adopted!.kill();
      expect(await adopted!.exited).toMatchObject({ clean: false });
      expect(await vm.exited).toMatchObject({ clean: false, signal: 'SIGKILL' });
      // Dead now: the same handle is no longer adoptable.
      expect(await driver.adopt(vm.handle)).toBeNull();
    } finally {
      await vm.kill();
      await other.kill();
      await vm.cleanup();
      await other.cleanup();
    }
    expect(await waitUntilNoProcessMentions(root)).toEqual([]);
  });

  it('resolves exited when the VMM is killed from outside, and takes the guest with it', async () => {
    const spec = await newSpec();
    const vm = await driver.launch(spec);
    const adopted = (await driver.adopt(vm.handle)) as RunningVm;
    process.kill(vm.handle.pid, 'SIGKILL');
    expect(await vm.exited).toEqual({ clean: false, code: null, signal: 'SIGKILL' });
    expect(await adopted.exited).toMatchObject({ clean: false });
    expect(await vm.status()).toBe('shutdown');
    await vm.cleanup();
    expect(await readdir(spec.runDir)).toEqual([]);
    expect(await waitUntilNoProcessMentions(root)).toEqual([]);
  });

  it('fails launch with the VMM output when the binary exits at once, leaving nothing behind', async () => {
    const spec = await newSpec();
    const broken = new CloudHypervisorDriver({ binary: 'false' });
    await expect(broken.launch(spec)).rejects.toMatchObject({ code: 'hypervisor_error' });
    expect(await readdir(spec.runDir)).toEqual([]);

    const missing = new CloudHypervisorDriver({ binary: join(root, 'no-such-binary') });
    await expect(missing.launch(spec)).rejects.toMatchObject({ code: 'hypervisor_error' });
    expect(await readdir(spec.runDir)).toEqual([]);
  });

  it('refuses a Cloud Hypervisor older than the minimum version', async () => {
    const spec = await newSpec();
    process.env.MICROVM_STANDIN_VERSION = '43.0.0';
    try {
      await expect(driver.launch(spec)).rejects.toMatchObject({ code: 'hypervisor_unavailable', message: expect.stringContaining('43.0.0 is too old') });
    } finally {
      delete process.env.MICROVM_STANDIN_VERSION;
    }
    expect(await readdir(spec.runDir)).toEqual([]);
    expect(await waitUntilNoProcessMentions(root)).toEqual([]);
  });

  it('reports a boot the VMM refuses with its error chain', async () => {
    const spec = { ...(await newSpec()), kernel: join(root, 'missing-kernel') };
    const failure = await driver.launch(spec).then(() => null, (error: unknown) => error as Error);
    expect(failure).toMatchObject({ code: 'hypervisor_error' });
    expect(failure?.message).toContain('The VM could not boot');
    expect(failure?.message).toContain('missing-kernel');
    expect(await readdir(spec.runDir)).toEqual([]);
    expect(await waitUntilNoProcessMentions(root)).toEqual([]);
  });
});

describe('the stand-in enforces CH wire rules the driver must respect', () => {
  it('answers 400 to a body on an action PUT and to a chunked vm.create, 404 to unknown endpoints', async () => {
    const spec = await newSpec();
    const vm = await driver.launch(spec);
    try {
      const api = vm.handle.controlSocket;
      expect(await rawRequest(api, 'PUT /api/v1/vm.pause HTTP/1.1\r\nHost: localhost\r\nContent-Length: 2\r\n\r\n{}')).toBe(
        'HTTP/1.1 400 \r\nServer: Cloud Hypervisor API\r\nConnection: keep-alive\r\nContent-Type: application/json\r\nContent-Length: 15\r\n\r\n["Bad Request"]',
      );
      const chunked = await rawRequest(api, 'PUT /api/v1/vm.create HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n');
      expect(chunked).toBe('HTTP/1.1 400 \r\nServer: Cloud Hypervisor API\r\nConnection: keep-alive\r\nContent-Type: application/json\r\nContent-Length: 0\r\n\r\n');
      expect(await rawRequest(api, 'GET /api/v1/vm.nothing HTTP/1.1\r\nHost: localhost\r\n\r\n')).toContain('HTTP/1.1 404 \r\n');
      expect(await rawRequest(api, 'PUT /api/v1/vm.resume HTTP/1.1\r\nHost: localhost\r\n\r\n')).toContain(
        '["Error from API","The VM could not resume","Cannot resume VM","Failed to resume migratable component","Invalid transition: InvalidStateTransition(Running, Running)"]',
      );
      const create = await rawRequest(api, `PUT /api/v1/vm.create HTTP/1.1\r\nHost: localhost\r\nContent-Length: 27\r\n\r\n{"payload":{"initrd":"/x"}}`);
      expect(create).toContain('HTTP/1.1 400 \r\n');
      expect(create).toContain('unknown field `initrd`');
      expect(await rawRequest(api, 'PUT /api/v1/vm.boot HTTP/1.1\r\nHost: localhost\r\n\r\n')).toBe(
        'HTTP/1.1 500 \r\nServer: Cloud Hypervisor API\r\nConnection: keep-alive\r\nContent-Type: application/json\r\nContent-Length: 61\r\n\r\n["Error from API","The VM could not boot","VM is already created"]'.replace('61', String(Buffer.byteLength('["Error from API","The VM could not boot","VM is already created"]'))),
      );
    } finally {
      await vm.kill();
      await vm.cleanup();
    }
  });
});

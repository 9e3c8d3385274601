import { spawn } from 'node:child_process';
import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultAppConfig } from '../../src/main/core/config/app-config.js';
import { processesMentioning } from '../../src/main/core/sandbox/host-resources.js';
import type { SandboxEvent } from '../../src/main/core/sandbox/sandbox-manager.js';
import type { SandboxState } from '../../src/main/core/store/sandbox-store.js';
import { minimalImage } from '../support/minimal-vm.js';
import { closeHarness, openHarness, type Harness } from '../support/sandbox-harness.js';

type StateEvent = Extract<SandboxEvent, { type: 'state' }>;

function waitForState(h: Harness, name: string, state: SandboxState, timeoutMs = 30_000): Promise<StateEvent> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name} did not become ${state}`)), timeoutMs);
    const listener = (event: SandboxEvent) => {
      if (event.type === 'state' && event.name === name && event.state === state) {
        clearTimeout(timer);
        h.manager.off('event', listener);
        resolve(event);
      }
    };
    h.manager.on('event', listener);
  });
}

async function leftovers(h: Harness): Promise<{ processes: number[]; dirs: string[] }> {
  return { processes: await processesMentioning(`${h.runRoot}/`), dirs: await readdir(h.runRoot) };
}

describe('the sandbox manager on QEMU', () => {
  let h: Harness;

  beforeAll(async () => {
    await minimalImage();
    h = await openHarness();
  });

  afterAll(() => closeHarness(h));

  it('runs the full lifecycle, with the agent answering after resume', async () => {
    const events: SandboxEvent[] = [];
    h.manager.on('event', (e: SandboxEvent) => events.push(e));
    const created = await h.manager.create({ name: 'life', vcpus: 1, memoryMiB: 256, labels: { team: 'core' } });
    expect(created.state).toBe('running');
    expect(events.some((e) => e.type === 'progress' && e.name === 'life')).toBe(true);
    expect(events.filter((e) => e.type === 'state').map((e) => e.type === 'state' && e.state)).toEqual(['creating', 'running']);
    expect(h.store.events(created.id).map((e) => e.kind)).toContain('transition');
    expect(created.labels).toEqual({ team: 'core' });
    expect((await (await h.manager.agent('life')).info()).hostname).toBe('life');

    expect((await h.manager.pause('life')).state).toBe('paused');
    await expect(h.manager.pause('life')).rejects.toMatchObject({ code: 'invalid_state' });
    expect((await h.manager.resume('life')).state).toBe('running');
    const r = await (await h.manager.agent('life')).run({ argv: ['echo', 'after resume'] });
    expect(r.stdout.toString()).toBe('after resume\n');

    const stopped = await h.manager.stop('life');
    expect(stopped.state).toBe('stopped');
    expect(stopped.stateReason).toBe('the guest powered off');
    expect(stopped.handle).toBeNull();
    await expect(h.manager.agent('life')).rejects.toMatchObject({ code: 'invalid_state' });

    expect((await h.manager.start('life')).state).toBe('running');
    expect((await h.manager.restart('life')).state).toBe('running');

    // A guest that powers itself off is stopped, not crashed.
    const poweredOff = waitForState(h, 'life', 'stopped');
    await (await h.manager.agent('life')).power('poweroff');
    expect((await poweredOff).reason).toBe('the guest powered off');
    expect((await h.manager.start('life')).state).toBe('running');
    await h.manager.destroy('life');
    expect(() => h.manager.get('life')).toThrow(/no sandbox/);
    expect(await leftovers(h)).toEqual({ processes: [], dirs: [] });
  });

  it('creates 10 VMs concurrently, all running, then destroys them leaving nothing', async () => {
    const names = Array.from({ length: 10 }, (_, i) => `many-${i}`);
    const records = await Promise.all(names.map((name) => h.manager.create({ name })));
    expect(records.map((r) => r.state)).toEqual(names.map(() => 'running'));
    expect(new Set(records.map((r) => r.handle?.pid)).size).toBe(10);
    expect((await leftovers(h)).processes).toHaveLength(10);
    await Promise.all(names.map((name) => h.manager.destroy(name)));
    expect(h.manager.list()).toEqual([]);
    expect(await leftovers(h)).toEqual({ processes: [], dirs: [] });
  });

  it('marks a VM whose QEMU is killed with -9 as crashed, with its serial log, and cleans up', async () => {
    const record = await h.manager.create({ name: 'victim' });
    const crashed = waitForState(h, 'victim', 'crashed');
    const killedAt = Date.now();
    process.kill(record.handle!.pid, 'SIGKILL');
    const event = await crashed;
    process.stderr.write(`crash noticed ${event.at - killedAt} ms after kill -9\n`);
    const after = h.manager.get('victim');
    expect(after.state).toBe('crashed');
    expect(after.stateReason).toMatch(/signal SIGKILL/);
    expect(after.handle).toBeNull();
    expect(await readdir(join(h.runRoot, record.id)).catch(() => [])).toEqual([]);
    await h.manager.destroy('victim');
  });

  it('refuses bad input and wrong states with clear errors, changing nothing', async () => {
    await expect(h.manager.create({ name: 'Bad_Name' })).rejects.toMatchObject({ code: 'invalid_argument', details: { field: 'name' } });
    await expect(h.manager.create({ name: 'x', vcpus: 0 })).rejects.toMatchObject({ code: 'invalid_argument', details: { field: 'vcpus' } });
    await expect(h.manager.create({ name: 'x', memoryMiB: 1 << 30 })).rejects.toMatchObject({ details: { field: 'memoryMiB' } });
    await expect(h.manager.create({ name: 'x', template: 'nope' })).rejects.toMatchObject({ code: 'not_found', details: { field: 'template' } });
    await expect(h.manager.start('no-such-id')).rejects.toMatchObject({ code: 'not_found' });
    expect(h.manager.list()).toEqual([]);

    // Within the per-sandbox limit but more than the host has: the admission check refuses.
    const roomy = { ...defaultAppConfig(), hypervisor: 'qemu' as const, defaults: { template: 'minimal' }, limits: { ...defaultAppConfig().limits, maxMemoryMiBPerSandbox: 1 << 30 } };
    const other = await openHarness(undefined, roomy);
    await expect(other.manager.create({ name: 'huge', memoryMiB: 1 << 29 })).rejects.toMatchObject({ code: 'insufficient_memory', details: { field: 'memoryMiB' } });
    expect(other.manager.list()).toEqual([]);
    other.store.close();
    await rm(other.dir, { recursive: true, force: true });

    await h.manager.create({ name: 'once' });
    await expect(h.manager.create({ name: 'once' })).rejects.toMatchObject({ code: 'already_exists' });
    await expect(h.manager.start('once')).rejects.toMatchObject({ code: 'invalid_state' });
    await expect(h.manager.resume('once')).rejects.toMatchObject({ code: 'invalid_state' });
    expect(h.manager.list().map((r) => [r.name, r.state])).toEqual([['once', 'running']]);
    await h.manager.destroy('once');
  });
});

describe('a manager killed with -9 in the middle of creates', () => {
  it('adopts the running VMs on restart, cleans the half-created ones, and leaves no orphan QEMU', async () => {
    const first = await openHarness();
    first.manager.close();
    first.store.close();
    const child = spawn(process.execPath, ['--import', 'tsx', 'test/support/manager-process.ts', first.dir, 'early', 'late-1', 'late-2'], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const lines = createInterface({ input: child.stdout! });
    await new Promise<void>((resolve, reject) => {
      lines.on('line', (line) => {
        // Kill as soon as one VM runs: the others are still booting.
        if (line.endsWith(' running')) resolve();
      });
      child.once('exit', () => reject(new Error('the manager process exited before any VM ran')));
    });
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));

    const h = await openHarness(first.dir);
    try {
      const states = Object.fromEntries(h.manager.list().map((r) => [r.name, r.state]));
      const running = Object.entries(states).filter(([, s]) => s === 'running').map(([n]) => n);
      expect(running.length).toBeGreaterThanOrEqual(1);
      for (const [name, state] of Object.entries(states)) {
        expect(['running', 'error']).toContain(state);
        if (state === 'error') expect(h.manager.get(name).stateReason).toMatch(/interrupted/);
      }
      for (const name of running) {
        expect((await (await h.manager.agent(name)).run({ argv: ['hostname'] })).stdout.toString()).toBe(`${name}\n`);
      }
      const { processes, dirs } = await leftovers(h);
      expect(processes.sort()).toEqual(running.map((n) => h.manager.get(n).handle!.pid).sort());
      expect(dirs.sort()).toEqual(running.map((n) => h.manager.get(n).id).sort());
    } finally {
      for (const record of h.manager.list()) await h.manager.destroy(record.id);
      expect(await leftovers(h)).toEqual({ processes: [], dirs: [] });
      h.store.close();
      await rm(h.dir, { recursive: true, force: true });
    }
  });
});

import { spawn } from 'node:child_process';
import { open, readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultAppConfig } from '../../src/main/core/config/app-config.js';
import { processesMentioning } from '../../src/main/core/sandbox/host-resources.js';
import type { SandboxEvent } from '../../src/main/core/sandbox/sandbox-manager.js';
import { minimalImage } from '../support/minimal-vm.js';
import { closeHarness, openHarness, type Harness } from '../support/sandbox-harness.js';

const COUNTER = 'i=0; while true; do i=$((i+1)); echo $i > /tmp/counter; sleep 0.2; done\n';

async function sh(h: Harness, name: string, script: string): Promise<string> {
  const result = await (await h.manager.agent(name)).run({ shell: script });
  return result.stdout.toString().trim();
}

async function exists(h: Harness, name: string, path: string): Promise<boolean> {
  return (await h.manager.agent(name)).stat(path).then(() => true, () => false);
}

/** Starts the counter detached from the exec session, as a user's long-running job would be. */
async function startCounter(h: Harness, name: string): Promise<void> {
  const agent = await h.manager.agent(name);
  await agent.writeFile('/tmp/count.sh', COUNTER);
  await agent.run({ shell: 'setsid sh /tmp/count.sh >/dev/null 2>&1 &' });
}

async function counter(h: Harness, name: string): Promise<number> {
  return Number(await sh(h, name, 'cat /tmp/counter'));
}

async function counterPids(h: Harness, name: string): Promise<string> {
  return sh(h, name, "ps -o pid,args | grep '[c]ount.sh' | awk '{print $1}'");
}

describe('snapshots on QEMU', () => {
  let h: Harness;

  beforeAll(async () => {
    await minimalImage();
    h = await openHarness();
  });

  afterAll(async () => {
    await closeHarness(h);
    expect(await processesMentioning(`${h.runRoot}/`)).toEqual([]);
  });

  it('backtracks files, processes and memory, and branches the tree', async () => {
    const events: SandboxEvent[] = [];
    h.manager.on('event', (e: SandboxEvent) => events.push(e));
    await h.manager.create({ name: 'back', memoryMiB: 256 });
    await (await h.manager.agent('back')).writeFile('/root/A', 'file A');
    const s1 = (await h.manager.snapshot('back', { name: 'S1' })).snapshot;
    expect(s1.parentId).toBeNull();
    expect(s1.pauseMs).toBeGreaterThan(0);
    expect(s1.files.every((f) => /^[0-9a-f]{64}$/.test(f.sha256) && f.size > 0)).toBe(true);

    await (await h.manager.agent('back')).writeFile('/root/B', 'file B');
    await startCounter(h, 'back');
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const s2 = (await h.manager.snapshot('back', { name: 'S2' })).snapshot;
    expect(s2.parentId).toBe(s1.id);
    const atS2 = await counter(h, 'back');
    expect(atS2).toBeGreaterThan(0);

    const restored1 = await h.manager.restoreSnapshot('back', s1.id);
    expect(restored1.state).toBe('running');
    expect(restored1.currentSnapshotId).toBe(s1.id);
    expect(await exists(h, 'back', '/root/A')).toBe(true);
    expect(await exists(h, 'back', '/root/B')).toBe(false);
    expect(await counterPids(h, 'back')).toBe('');
    expect(events.some((e) => e.type === 'state' && e.name === 'back' && e.state === 'running' && /restored snapshot "S1".*clock resynced/.test(e.reason ?? ''))).toBe(true);
    expect(events.some((e) => e.type === 'snapshot' && e.action === 'restored' && e.snapshotId === s1.id)).toBe(true);

    // Continuing from S1 starts a new branch beside S2.
    const s3 = (await h.manager.snapshot('back', { name: 'S3' })).snapshot;
    expect(s3.parentId).toBe(s1.id);
    const tree = h.manager.snapshotTree('back');
    expect(tree.current).toBe(s3.id);
    expect(tree.snapshots.map((s) => [s.name, s.parentId])).toEqual([['S1', null], ['S2', s1.id], ['S3', s1.id]]);

    await h.manager.restoreSnapshot('back', s2.id);
    expect(await exists(h, 'back', '/root/B')).toBe(true);
    const resumedAt = await counter(h, 'back');
    expect(resumedAt).toBeGreaterThanOrEqual(atS2);
    expect(resumedAt).toBeLessThan(atS2 + 5);
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect(await counter(h, 'back')).toBeGreaterThan(resumedAt);
    // The guest clock follows the host's again after the state sat on disk.
    const guestNow = Number(await sh(h, 'back', 'date +%s'));
    expect(Math.abs(guestNow - Date.now() / 1000)).toBeLessThan(5);
  });

  it('forks one snapshot twice into independent sandboxes running beside the original', async () => {
    const s1 = h.manager.snapshotTree('back').snapshots.find((s) => s.name === 'S1')!;
    const forks = await h.manager.fork(s1.id, { names: ['fork-a', 'fork-b'] });
    expect(forks.map((f) => f.state)).toEqual(['running', 'running']);
    expect(h.manager.get('back').state).toBe('running');
    for (const fork of forks) {
      expect(await sh(h, fork.name, 'hostname')).toBe(fork.name);
      expect(await exists(h, fork.name, '/root/A')).toBe(true);
      expect(h.manager.get(fork.name).currentSnapshotId).toBe(s1.id);
    }
    expect(await sh(h, 'fork-a', 'cat /etc/machine-id')).not.toBe(await sh(h, 'fork-b', 'cat /etc/machine-id'));
    await (await h.manager.agent('fork-a')).writeFile('/root/only-a', 'a');
    expect(await exists(h, 'fork-b', '/root/only-a')).toBe(false);
    expect(await exists(h, 'back', '/root/only-a')).toBe(false);
    for (const fork of forks) await h.manager.destroy(fork.id);
  });

  it('refuses a restore from a snapshot with one flipped byte, leaving the sandbox running unchanged', async () => {
    const s2 = h.manager.snapshotTree('back').snapshots.find((s) => s.name === 'S2')!;
    const file = join(h.dir, 'snapshots', s2.sandboxId, s2.id, s2.files[0]!.name);
    const handle = await open(file, 'r+');
    const byte = Buffer.alloc(1);
    await handle.read(byte, 0, 1, 4096);
    await handle.write(Buffer.of(byte[0]! ^ 0xff), 0, 1, 4096);
    await handle.close();
    await (await h.manager.agent('back')).writeFile('/root/marker', 'still here');
    const before = h.manager.get('back');
    await expect(h.manager.restoreSnapshot('back', s2.id)).rejects.toMatchObject({ code: 'snapshot_corrupt', message: expect.stringContaining('checksum') });
    const after = h.manager.get('back');
    expect(after.state).toBe('running');
    expect(after.handle?.pid).toBe(before.handle?.pid);
    expect(after.currentSnapshotId).toBe(before.currentSnapshotId);
    expect(await sh(h, 'back', 'cat /root/marker')).toBe('still here');
    await h.manager.deleteSnapshot(s2.id);
  });

  it('deletes a middle snapshot of a chain without breaking its descendants', async () => {
    await h.manager.create({ name: 'chain', memoryMiB: 256 });
    const agent = async () => h.manager.agent('chain');
    await (await agent()).writeFile('/root/c1', '1');
    const c1 = (await h.manager.snapshot('chain', { name: 'c1' })).snapshot;
    await (await agent()).writeFile('/root/c2', '2');
    const c2 = (await h.manager.snapshot('chain', { name: 'c2' })).snapshot;
    await (await agent()).writeFile('/root/c3', '3');
    const c3 = (await h.manager.snapshot('chain', { name: 'c3' })).snapshot;
    await h.manager.deleteSnapshot(c2.id);
    const tree = h.manager.snapshotTree('chain');
    expect(tree.snapshots.map((s) => [s.name, s.parentId])).toEqual([['c1', null], ['c3', c1.id]]);
    await h.manager.restoreSnapshot('chain', c1.id);
    expect(await exists(h, 'chain', '/root/c2')).toBe(false);
    await h.manager.restoreSnapshot('chain', c3.id);
    expect(await sh(h, 'chain', 'cat /root/c1 /root/c2 /root/c3')).toBe('123');
  });

  it('survives 20 snapshot/restore cycles without losing files or leaking processes, sockets or disk', async () => {
    const name = 'chain';
    const runDir = join(h.runRoot, h.manager.get(name).id);
    const snapshotDir = join(h.dir, 'snapshots', h.manager.get(name).id);
    for (let cycle = 0; cycle < 20; cycle++) {
      await (await h.manager.agent(name)).writeFile(`/root/cycle-${cycle}`, String(cycle));
      const { snapshot } = await h.manager.snapshot(name, { name: `cycle-${cycle}` });
      await (await h.manager.agent(name)).writeFile(`/root/after-${cycle}`, 'x');
      await h.manager.restoreSnapshot(name, snapshot.id);
      expect(await exists(h, name, `/root/after-${cycle}`)).toBe(false);
    }
    const files = (await sh(h, name, 'ls /root')).split(/\s+/).filter((f) => f.startsWith('cycle-'));
    expect(files).toHaveLength(20);
    expect(await processesMentioning(`${runDir}/`)).toHaveLength(1);
    expect((await readdir(runDir)).sort()).toEqual(['agent.sock', 'qemu.log', 'qmp.sock', 'serial.log']);
    const kept = h.manager.snapshotTree(name).snapshots;
    expect((await readdir(snapshotDir)).sort()).toEqual(kept.map((s) => s.id).sort());
    expect(await (await h.manager.agent(name)).ping()).toBeLessThan(5_000);
    await h.manager.destroy(name);
    await expect(stat(snapshotDir)).rejects.toMatchObject({ code: 'ENOENT' });
  });
});

describe('warm start', () => {
  it('creates later sandboxes of a shape by restoring a booted state, each with its own identity', async () => {
    const h = await openHarness();
    const reasons = new Map<string, string>();
    h.manager.on('event', (e: SandboxEvent) => {
      if (e.type === 'state' && e.state === 'running') reasons.set(e.name, e.reason ?? '');
    });
    try {
      // The first sandbox of a shape captures its warm state (unless an earlier run already did).
      await h.manager.create({ name: 'warm-1', memoryMiB: 200 });
      await h.manager.create({ name: 'warm-2', memoryMiB: 200 });
      await h.manager.create({ name: 'warm-3', memoryMiB: 200 });
      expect(reasons.get('warm-2')).toMatch(/restored the warm-start state/);
      expect(reasons.get('warm-3')).toMatch(/restored the warm-start state/);
      const ids = await Promise.all(['warm-2', 'warm-3'].map((name) => sh(h, name, 'hostname; cat /etc/machine-id')));
      expect(ids[0]).toMatch(/^warm-2\n[0-9a-f]{32}$/);
      expect(ids[1]).toMatch(/^warm-3\n[0-9a-f]{32}$/);
      expect(ids[0]!.split('\n')[1]).not.toBe(ids[1]!.split('\n')[1]);
      expect(h.manager.snapshotTree('warm-2')).toEqual({ current: null, snapshots: [] });
    } finally {
      for (const record of h.manager.list()) await h.manager.destroy(record.id);
      h.store.close();
      await rm(h.dir, { recursive: true, force: true });
    }
  });

  it('boots cold when snapshots.warmStart is off', async () => {
    const config = { ...defaultAppConfig(), hypervisor: 'qemu' as const, defaults: { template: 'minimal' }, snapshots: { ...defaultAppConfig().snapshots, warmStart: false } };
    const h = await openHarness(undefined, config);
    try {
      const events: SandboxEvent[] = [];
      h.manager.on('event', (e: SandboxEvent) => events.push(e));
      await h.manager.create({ name: 'cold', memoryMiB: 200 });
      expect(events.some((e) => e.type === 'state' && e.state === 'running' && e.reason === null)).toBe(true);
      await h.manager.destroy('cold');
    } finally {
      h.store.close();
      await rm(h.dir, { recursive: true, force: true });
    }
  });
});

describe('snapshots under pressure', () => {
  it('refuses a snapshot when the disk is too small, registering nothing', async () => {
    const h = await openHarness();
    const tmpfs = join(h.dir, 'snapshots');
    await execa('mkdir', ['-p', tmpfs]);
    await execa('mount', ['-t', 'tmpfs', '-o', 'size=200m', 'tmpfs', tmpfs]);
    try {
      await h.manager.create({ name: 'tight', memoryMiB: 256 });
      await expect(h.manager.snapshot('tight')).rejects.toMatchObject({ code: 'insufficient_space', message: expect.stringMatching(/not enough disk space.*MiB free/) });
      expect(h.manager.snapshotTree('tight')).toEqual({ current: null, snapshots: [] });
      expect(await readdir(join(tmpfs, h.manager.get('tight').id)).catch(() => [])).toEqual([]);
      await expect((await h.manager.agent('tight')).ping()).resolves.toBeGreaterThanOrEqual(0);
      await h.manager.destroy('tight');
    } finally {
      h.store.close();
      await execa('umount', [tmpfs]);
      await rm(h.dir, { recursive: true, force: true });
    }
  });

  it('after a daemon killed mid-snapshot, lists no half snapshot and adopts the sandbox running', async () => {
    const h = await openHarness();
    const child = spawn(process.execPath, ['--import', 'tsx', join(import.meta.dirname, '../support/snapshot-process.ts'), h.dir], { stdio: ['ignore', 'pipe', 'inherit'] });
    const lines = createInterface({ input: child.stdout! });
    const id = await new Promise<string>((resolve, reject) => {
      lines.on('line', (line) => line.startsWith('snapshotting ') && resolve(line.split(' ')[1]!));
      child.once('exit', (code) => reject(new Error(`snapshot process exited early (${code})`)));
    });
    // Killed mid-capture: once the partial directory holds some of the state.
    const sandboxDir = join(h.dir, 'snapshots', id);
    for (let captured = false; !captured; ) {
      const partial = (await readdir(sandboxDir).catch(() => [] as string[])).find((entry) => entry.startsWith('.partial-'));
      const files = partial ? await readdir(join(sandboxDir, partial)) : [];
      captured = files.length > 0 && (await stat(join(sandboxDir, partial!, files[0]!))).size > 0;
      if (!captured) await new Promise((resolve) => setTimeout(resolve, 5));
    }
    child.kill('SIGKILL');
    await new Promise((resolve) => child.once('exit', resolve));
    h.store.close();

    const again = await openHarness(h.dir);
    try {
      const record = again.manager.get('interrupted');
      expect(again.manager.snapshotTree('interrupted').snapshots).toEqual([]);
      expect(await readdir(join(h.dir, 'snapshots', record.id)).catch(() => [])).toEqual([]);
      expect(record.state).toBe('running');
      expect(await (await again.manager.agent('interrupted')).run({ argv: ['true'] })).toMatchObject({ exitCode: 0 });
      await again.manager.destroy('interrupted');
      expect(await processesMentioning(`${again.runRoot}/`)).toEqual([]);
    } finally {
      again.store.close();
      await rm(h.dir, { recursive: true, force: true });
    }
  });
});

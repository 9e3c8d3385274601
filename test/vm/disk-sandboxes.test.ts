import { appendFile, mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultAppConfig, type AppConfig } from '../../src/main/core/config/app-config.js';
import { hypervisorDrivers } from '../../src/main/core/hypervisor/hypervisor-drivers.js';
import type { BuiltImage } from '../../src/main/core/images/built-image.js';
import { processesMentioning } from '../../src/main/core/sandbox/host-resources.js';
import { createOverlay } from '../../src/main/core/sandbox/sandbox-disk.js';
import { SandboxManager, type SandboxEvent } from '../../src/main/core/sandbox/sandbox-manager.js';
import { SandboxStore } from '../../src/main/core/store/sandbox-store.js';
import { minimalImage } from '../support/minimal-vm.js';
import { catalogOf, makeTinyRootfsImage, TINY_MARKER } from '../support/tiny-rootfs.js';

const MIB = 1024 * 1024;

interface Rig {
  dir: string;
  store: SandboxStore;
  manager: SandboxManager;
  runRoot: string;
  sandboxRoot: string;
  snapshotRoot: string;
}

async function openRig(dir: string, images: Record<string, BuiltImage>, warmStart: boolean): Promise<Rig> {
  const config: AppConfig = { ...defaultAppConfig(), hypervisor: 'qemu', snapshots: { ...defaultAppConfig().snapshots, warmStart } };
  const store = SandboxStore.open(join(dir, 'microvm.db'));
  const rig = { dir, store, runRoot: join(dir, 'vms'), sandboxRoot: join(dir, 'sandboxes'), snapshotRoot: join(dir, 'snapshots') };
  const manager = await SandboxManager.open({ ...rig, config, drivers: hypervisorDrivers(config), templates: catalogOf(images) });
  return { ...rig, manager };
}

/** Destroys everything and checks that nothing is left: no VMM, no sandbox files, no snapshots. */
async function closeRig(rig: Rig): Promise<void> {
  for (const record of rig.manager.list()) await rig.manager.destroy(record.id);
  rig.store.close();
  expect(await processesMentioning(`${rig.runRoot}/`)).toEqual([]);
  expect(await readdir(rig.sandboxRoot)).toEqual([]);
  expect(await readdir(rig.snapshotRoot).catch(() => [])).toEqual([]);
}

async function sh(rig: Rig, name: string, script: string): Promise<string> {
  const result = await (await rig.manager.agent(name)).run({ shell: script });
  if (result.exitCode !== 0) throw new Error(`${script}: exit ${result.exitCode}: ${result.stderr.toString()}`);
  return result.stdout.toString().trim();
}

async function exists(rig: Rig, name: string, path: string): Promise<boolean> {
  return (await rig.manager.agent(name)).stat(path).then(() => true, () => false);
}

interface QemuImgInfo {
  format: string;
  'virtual-size': number;
  'actual-size': number;
  'backing-filename'?: string;
  'backing-filename-format'?: string;
}

async function qemuImgInfo(path: string): Promise<QemuImgInfo> {
  // -U: QEMU holds the image's lock while the sandbox runs.
  return JSON.parse((await execa('qemu-img', ['info', '-U', '--output=json', path])).stdout) as QemuImgInfo;
}

async function serial(rig: Rig, name: string): Promise<string> {
  return readFile(rig.manager.serialLogPath(name)!, 'utf8');
}

async function waitFor<T>(what: string, probe: () => Promise<T | null | false>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

const SERVICES = [
  { name: 'marker', argv: ['sh', '-c', 'echo "$GREETING" > /run/service-marker; echo marker is up; exec sleep 100000'], env: { GREETING: 'service ran' } },
  { name: 'quitter', argv: ['sh', '-c', 'echo quitting now; exit 7'] },
];

describe('sandboxes booting from a copy-on-write disk (QEMU)', () => {
  let base: string;
  let image: BuiltImage;
  let rig: Rig;

  beforeAll(async () => {
    base = await mkdtemp(join(tmpdir(), 'microvm-disk-'));
    // 100 MiB of random data in a 192 MiB file system: a copy of it would show.
    image = await makeTinyRootfsImage({ dir: join(base, 'image'), name: 'tiny', sizeMiB: 192, fillerMiB: 100, services: SERVICES, defaults: { diskMiB: 384 } });
    rig = await openRig(join(base, 'state'), { tiny: image, minimal: await minimalImage() }, false);
  });

  afterAll(async () => {
    await closeRig(rig);
    await rm(base, { recursive: true, force: true });
  });

  it('creates the disk as an overlay over the image without copying it', async () => {
    const path = join(base, 'overlay-only.qcow2');
    const started = performance.now();
    await createOverlay(image.rootfs!, path, 1024);
    const ms = performance.now() - started;
    const info = await qemuImgInfo(path);
    expect(info).toMatchObject({ format: 'qcow2', 'virtual-size': 1024 * MIB, 'backing-filename': image.rootfs, 'backing-filename-format': 'raw' });
    expect((await stat(path)).size).toBeLessThan(MIB);
    expect(ms).toBeLessThan(5_000);
    await rm(path);
  });

  it('boots to the agent on the disk, grown to diskMiB, with the template services started', async () => {
    const created = await rig.manager.create({ name: 'disk1', template: 'tiny', diskMiB: 1024 });
    expect(created.diskMiB).toBe(1024);
    expect(await sh(rig, 'disk1', 'grep " / " /proc/mounts')).toMatch(/^\/dev\/vda \/ ext4 /);
    expect(await sh(rig, 'disk1', `cat ${TINY_MARKER}`)).toBe('tiny rootfs tiny');
    expect(JSON.parse(await sh(rig, 'disk1', 'cat /etc/microvm/template.json'))).toMatchObject({ name: 'tiny' });
    // df counts what ext4 leaves for files: the journal and metadata take a few per cent.
    const [, totalMiB] = (await sh(rig, 'disk1', 'df -m / | tail -1')).split(/\s+/).map(Number);
    expect(totalMiB).toBeGreaterThan(900);
    expect(totalMiB).toBeLessThanOrEqual(1024);

    const disk = join(rig.sandboxRoot, created.id, 'disk.qcow2');
    const info = await qemuImgInfo(disk);
    expect(info).toMatchObject({ format: 'qcow2', 'virtual-size': 1024 * MIB, 'backing-filename': image.rootfs });
    // The image holds 100 MiB of random data; the overlay only what the guest wrote.
    expect((await stat(disk)).size).toBeLessThan(16 * MIB);
    expect(image.rootfsBytes).toBe(192 * MIB);

    expect(await waitFor('the marker service', () => exists(rig, 'disk1', '/run/service-marker'))).toBe(true);
    expect(await sh(rig, 'disk1', 'cat /run/service-marker')).toBe('service ran');
    const log = await waitFor('the quitter to be logged', async () => {
      const text = await serial(rig, 'disk1');
      return text.includes('service quitter: exited with status 7') ? text : null;
    });
    expect(log).toContain('[marker] marker is up');
    expect(log).toContain('[quitter] quitting now');
    expect(log).toContain('init: grew / from 192 to 1024 MiB');
    // A service that exits is not fatal: the guest and the other service run on.
    expect(await sh(rig, 'disk1', 'ps -o args | grep -q "[s]leep 100000" && echo alive')).toBe('alive');
  });

  it('refuses a disk smaller than the image, or a disk for a template without one, naming diskMiB', async () => {
    await expect(rig.manager.create({ name: 'small', template: 'tiny', diskMiB: 100 })).rejects.toMatchObject({
      code: 'invalid_argument',
      details: { field: 'diskMiB', minimum: 192 },
      message: expect.stringMatching(/^diskMiB: 100 MiB is smaller than the tiny image \(192 MiB\)/),
    });
    await expect(rig.manager.create({ name: 'nodisk', template: 'minimal', diskMiB: 512 })).rejects.toMatchObject({
      code: 'invalid_argument',
      message: expect.stringContaining('diskMiB: the minimal template has no disk'),
    });
    await expect(rig.manager.create({ name: 'zero', template: 'tiny', diskMiB: 0 })).rejects.toMatchObject({ code: 'invalid_argument', details: { field: 'diskMiB' } });
    expect(rig.manager.list().map((s) => s.name)).toEqual(['disk1']);
  });

  it('keeps files across stop and start, and gives each sandbox its own disk', async () => {
    await sh(rig, 'disk1', 'echo kept > /root/persist');
    expect((await rig.manager.stop('disk1')).state).toBe('stopped');
    expect((await rig.manager.start('disk1')).state).toBe('running');
    expect(await sh(rig, 'disk1', 'cat /root/persist')).toBe('kept');
    // Grown once: the second boot finds the file system at full size.
    expect(await serial(rig, 'disk1')).not.toContain('init: grew');

    // A crash keeps the disk: what the guest had synced is there on the next start.
    await sh(rig, 'disk1', 'echo synced > /root/before-crash; sync');
    const crashed = new Promise<void>((resolve) => {
      const listener = (event: SandboxEvent) => {
        if (event.type === 'state' && event.name === 'disk1' && event.state === 'crashed') {
          rig.manager.off('event', listener);
          resolve();
        }
      };
      rig.manager.on('event', listener);
    });
    process.kill(rig.manager.get('disk1').handle!.pid, 'SIGKILL');
    await crashed;
    expect((await rig.manager.start('disk1')).state).toBe('running');
    expect(await sh(rig, 'disk1', 'cat /root/persist /root/before-crash')).toBe('kept\nsynced');

    const second = await rig.manager.create({ name: 'disk2', template: 'tiny' });
    expect(second.diskMiB).toBe(384);
    expect(await exists(rig, 'disk2', '/root/persist')).toBe(false);
    await sh(rig, 'disk2', 'echo two > /root/only-in-two');
    await sh(rig, 'disk1', 'echo one > /root/only-in-one');
    expect(await exists(rig, 'disk1', '/root/only-in-two')).toBe(false);
    expect(await exists(rig, 'disk2', '/root/only-in-one')).toBe(false);
    expect(await sh(rig, 'disk2', 'cat /root/only-in-two')).toBe('two');
    await rig.manager.destroy('disk2');
    expect(await readdir(rig.sandboxRoot)).toEqual([rig.manager.get('disk1').id]);
  });

  it('snapshots the disk with the state: restore brings a deleted file back, a fork gets its own overlay', async () => {
    const disk1 = rig.manager.get('disk1');
    await sh(rig, 'disk1', 'echo in-snapshot > /root/snapfile');
    const { snapshot } = await rig.manager.snapshot('disk1', { name: 'S' });
    const diskFile = snapshot.files.find((f) => f.name === 'disk.qcow2');
    expect(diskFile?.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(snapshot.diskBytes).toBe(diskFile?.size);
    expect(snapshot.stateBytes).toBe(snapshot.files.filter((f) => f.name !== 'disk.qcow2').reduce((sum, f) => sum + f.size, 0));
    const snapshotDir = join(rig.snapshotRoot, disk1.id, snapshot.id);
    expect(await readdir(snapshotDir)).toContain('disk.qcow2');
    expect((await qemuImgInfo(join(snapshotDir, 'disk.qcow2')))['backing-filename']).toBe(image.rootfs);

    await sh(rig, 'disk1', 'rm /root/snapfile; sync');
    expect((await rig.manager.restoreSnapshot('disk1', snapshot.id)).state).toBe('running');
    expect(await sh(rig, 'disk1', 'cat /root/snapfile')).toBe('in-snapshot');
    // Written after the restore, on the sandbox's fresh copy: the snapshot's disk is untouched.
    await sh(rig, 'disk1', 'echo after > /root/after-restore; sync');

    const [fork] = await rig.manager.fork(snapshot.id, { names: ['disk-fork'] });
    expect(fork!.diskMiB).toBe(1024);
    expect(await sh(rig, 'disk-fork', 'cat /root/snapfile')).toBe('in-snapshot');
    expect(await exists(rig, 'disk-fork', '/root/after-restore')).toBe(false);
    await sh(rig, 'disk-fork', 'echo fork > /root/fork-only; sync');
    expect(await exists(rig, 'disk1', '/root/fork-only')).toBe(false);
    const forkDisk = join(rig.sandboxRoot, fork!.id, 'disk.qcow2');
    expect((await qemuImgInfo(forkDisk))['backing-filename']).toBe(image.rootfs);
    expect(forkDisk).not.toBe(join(rig.sandboxRoot, disk1.id, 'disk.qcow2'));
    // The snapshot's copy is what it was when taken.
    expect(rig.manager.getSnapshot(snapshot.id).files).toEqual(snapshot.files);
    await rig.manager.destroy('disk-fork');
    expect(await readdir(join(rig.sandboxRoot))).toEqual([disk1.id]);

    // A disk copy that no longer matches its checksum refuses the restore; the sandbox runs on.
    await appendFile(join(snapshotDir, 'disk.qcow2'), 'x');
    await expect(rig.manager.restoreSnapshot('disk1', snapshot.id)).rejects.toMatchObject({
      code: 'snapshot_corrupt',
      details: { file: 'disk.qcow2' },
    });
    expect(rig.manager.get('disk1').state).toBe('running');
    expect(await sh(rig, 'disk1', 'cat /root/after-restore')).toBe('after');

    await rig.manager.deleteSnapshot(snapshot.id);
    expect(await readdir(join(rig.snapshotRoot, disk1.id))).toEqual([]);
  });

  it('destroy removes the disk and everything else of the sandbox', async () => {
    const { id } = rig.manager.get('disk1');
    await rig.manager.destroy('disk1');
    expect(await readdir(rig.sandboxRoot)).toEqual([]);
    expect(await stat(join(rig.sandboxRoot, id)).catch(() => null)).toBeNull();
    expect(await processesMentioning(`${rig.runRoot}/`)).toEqual([]);
  });
});

describe('warm start of a disk sandbox', () => {
  let base: string;
  let rig: Rig;

  beforeAll(async () => {
    base = await mkdtemp(join(tmpdir(), 'microvm-disk-warm-'));
    const image = await makeTinyRootfsImage({ dir: join(base, 'image'), name: 'tiny', sizeMiB: 64, services: SERVICES });
    rig = await openRig(join(base, 'state'), { tiny: image }, true);
  });

  afterAll(async () => {
    await closeRig(rig);
    await rm(base, { recursive: true, force: true });
  });

  it('gives a warm-started sandbox a copy of the captured disk, its size in the key', async () => {
    await rig.manager.create({ name: 'cold', template: 'tiny', diskMiB: 256 });
    await sh(rig, 'cold', 'echo cold > /root/cold-only; sync');
    const warmDirs = await readdir(join(base, 'image', 'warm'));
    expect(warmDirs).toEqual(['qemu-1cpu-256mib-disk256mib']);
    expect(await readdir(join(base, 'image', 'warm', warmDirs[0]!))).toContain('disk.qcow2');

    const warm = await rig.manager.create({ name: 'warm', template: 'tiny', diskMiB: 256 });
    expect(warm.stateReason ?? '').toContain('warm-start');
    expect((await (await rig.manager.agent('warm')).info()).hostname).toBe('warm');
    expect(await sh(rig, 'warm', 'grep " / " /proc/mounts')).toMatch(/^\/dev\/vda \/ ext4 /);
    expect(await exists(rig, 'warm', '/root/cold-only')).toBe(false);
    expect(await sh(rig, 'warm', 'cat /run/service-marker')).toBe('service ran');
    await sh(rig, 'warm', 'echo warm > /root/warm-only; sync');
    expect(await exists(rig, 'cold', '/root/warm-only')).toBe(false);
    const info = await qemuImgInfo(join(rig.sandboxRoot, warm.id, 'disk.qcow2'));
    expect(info['virtual-size']).toBe(256 * MIB);

    // Another size is another shape: it boots, and is captured on its own.
    await rig.manager.create({ name: 'bigger', template: 'tiny', diskMiB: 320 });
    expect((await readdir(join(base, 'image', 'warm'))).sort()).toEqual(['qemu-1cpu-256mib-disk256mib', 'qemu-1cpu-256mib-disk320mib']);
  });
});

describe('create time does not grow with the image size', () => {
  let base: string;
  let rig: Rig;
  const images: Record<string, BuiltImage> = {};

  beforeAll(async () => {
    base = await mkdtemp(join(tmpdir(), 'microvm-disk-size-'));
    images.small = await makeTinyRootfsImage({ dir: join(base, 'small'), name: 'small', sizeMiB: 200, fillerMiB: 150 });
    images.big = await makeTinyRootfsImage({ dir: join(base, 'big'), name: 'big', sizeMiB: 2048, fillerMiB: 1900 });
    rig = await openRig(join(base, 'state'), { ...images, minimal: await minimalImage() }, false);
  }, 900_000);

  afterAll(async () => {
    await closeRig(rig);
    await rm(base, { recursive: true, force: true });
  });

  it('measures overlay creation and the whole create for a 200 MB and a 2 GB image, and without a disk', async () => {
    const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
    const overlayMs: Record<string, number[]> = { small: [], big: [] };
    for (let i = 0; i < 7; i++) {
      for (const name of ['small', 'big']) {
        const path = join(base, `probe-${name}-${i}.qcow2`);
        const started = performance.now();
        await createOverlay(images[name]!.rootfs!, path, 4096);
        overlayMs[name]!.push(performance.now() - started);
        await rm(path);
      }
    }
    // Cold boots (warm start off), alternating so a busy moment of the host hits all three alike.
    const createMs: Record<string, number[]> = { minimal: [], small: [], big: [] };
    const bootToReadyMs: Record<string, number[]> = { minimal: [], small: [], big: [] };
    for (let round = 0; round < 2; round++) {
      for (const name of ['minimal', 'small', 'big']) {
        const started = performance.now();
        const record = await rig.manager.create({ name: `size-${name}-${round}`, template: name, ...(name === 'minimal' ? {} : { diskMiB: 4096 }) });
        createMs[name]!.push(performance.now() - started);
        bootToReadyMs[name]!.push((await (await rig.manager.agent(record.id)).info()).bootToReadyMs ?? NaN);
        if (name !== 'minimal') expect((await stat(join(rig.sandboxRoot, record.id, 'disk.qcow2'))).size).toBeLessThan(16 * MIB);
        await rig.manager.destroy(record.id);
      }
    }
    const figures = {
      imageMiB: { small: images.small!.rootfsBytes! / MIB, big: images.big!.rootfsBytes! / MIB },
      imageAllocatedMiB: {
        small: Math.round(((await stat(images.small!.rootfs!)).blocks * 512) / MIB),
        big: Math.round(((await stat(images.big!.rootfs!)).blocks * 512) / MIB),
      },
      overlayCreateMedianMs: { small: Math.round(median(overlayMs.small!)), big: Math.round(median(overlayMs.big!)) },
      createToRunningMs: Object.fromEntries(Object.entries(createMs).map(([k, v]) => [k, v.map(Math.round)])),
      bootToReadyMs: bootToReadyMs,
    };
    console.log(`disk create figures: ${JSON.stringify(figures)}`);
    // qemu-img writes a header and reads the backing file's size, whatever the image holds.
    expect(median(overlayMs.big!)).toBeLessThan(median(overlayMs.small!) * 2 + 50);
  });
});

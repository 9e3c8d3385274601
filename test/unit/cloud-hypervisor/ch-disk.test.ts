import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildGuestAgent } from '../../../src/main/core/build/guest-agent-build.js';
import { ChApiClient } from '../../../src/main/core/hypervisor/cloud-hypervisor/ch-api-client.js';
import { chVmConfig, type ChVmConfig } from '../../../src/main/core/hypervisor/cloud-hypervisor/ch-vm-config.js';
import { CloudHypervisorDriver } from '../../../src/main/core/hypervisor/cloud-hypervisor/cloud-hypervisor-driver.js';
import type { VmLaunchSpec } from '../../../src/main/core/hypervisor/hypervisor-driver.js';
import { hashFile } from '../../../src/main/core/hypervisor/state-file-digest.js';
import { captureVm } from '../../../src/main/core/snapshots/disk-capture.js';
import { createOverlay, DISK_FILE } from '../../../src/main/core/sandbox/sandbox-disk.js';

const STANDIN = fileURLToPath(new URL('../../support/ch-standin/cloud-hypervisor', import.meta.url));

let root: string;
let kernel: string;
let initrd: string;
let rootfs: string;
let driver: CloudHypervisorDriver;
let runs = 0;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'ch-disk-test-'));
  process.env.MICROVM_STANDIN_AGENT = (await buildGuestAgent()).path;
  process.env.MICROVM_STANDIN_SCRATCH = root;
  kernel = join(root, 'vmlinuz');
  initrd = join(root, 'initrd.img');
  rootfs = join(root, 'rootfs.ext4');
  await writeFile(kernel, 'kernel');
  await writeFile(initrd, 'initrd');
  await execa('mke2fs', ['-q', '-F', '-t', 'ext4', '-L', 'rootfs', rootfs, '16M']);
  driver = new CloudHypervisorDriver({ binary: STANDIN });
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

/** A spec with its own run directory and its own overlay over the shared rootfs. */
async function newSpec(): Promise<VmLaunchSpec & { disk: { path: string } }> {
  const n = ++runs;
  const runDir = join(root, `vm${n}`);
  await mkdir(runDir, { mode: 0o700 });
  const disk = join(root, `disk${n}.qcow2`);
  await createOverlay(rootfs, disk, 64);
  return { id: `vm${n}`, hostname: `box-${n}`, kernel, initrd, cmdline: 'quiet', vcpus: 1, memoryMiB: 128, runDir, disk: { path: disk } };
}

function disksOf(info: { config: unknown }): unknown {
  return (info.config as { disks?: unknown }).disks;
}

describe('Cloud Hypervisor with a copy-on-write disk (stand-in, wire level)', () => {
  it('sends the overlay as a qcow2 disk with backing files on, and CH boots it', async () => {
    const spec = await newSpec();
    expect(chVmConfig(spec, { serialLog: '/s', vsockSocket: '/v' }).disks).toEqual([{ path: spec.disk.path, image_type: 'Qcow2', backing_files: true }]);
    const { disks } = chVmConfig({ ...spec, disk: undefined }, { serialLog: '/s', vsockSocket: '/v' });
    expect(disks).toBeUndefined();

    const vm = await driver.launch(spec);
    try {
      const info = await new ChApiClient(vm.handle.controlSocket).info();
      expect(disksOf(info)).toEqual([{ path: spec.disk.path, image_type: 'Qcow2', backing_files: true }]);
      expect(info.state).toBe('Running');
    } finally {
      await vm.kill();
      await vm.cleanup();
    }
  });

  it('snapshots the disk with the state, and restores a fork onto its own overlay', async () => {
    const spec = await newSpec();
    const vm = await driver.launch(spec);
    const dir = join(root, `snapshot-${runs}`);
    await mkdir(dir);
    const saved = await captureVm(vm, dir, spec.disk.path);
    expect(await vm.status()).toBe('running');
    expect(saved.files.map((f) => f.name)).toEqual(['config.json', 'memory-ranges', 'state.json', DISK_FILE]);
    expect(saved.files.at(-1)).toEqual(await hashFile(dir, DISK_FILE));
    expect(saved.pauseMs).toBeGreaterThan(0);
    // CH's config.json names the disk the VM ran with.
    expect(JSON.parse(await readFile(join(dir, 'config.json'), 'utf8')).disks).toEqual([{ path: spec.disk.path, image_type: 'Qcow2', backing_files: true }]);
    await vm.kill();
    await vm.cleanup();

    const fork = await newSpec();
    const restored = await driver.restore(fork, dir);
    try {
      const info = await new ChApiClient(restored.handle.controlSocket).info();
      expect(disksOf(info)).toEqual([{ path: fork.disk.path, image_type: 'Qcow2', backing_files: true }]);
      const agent = await restored.connectAgent(15_000);
      expect((await agent.run({ argv: ['true'] })).exitCode).toBe(0);
      agent.close();
    } finally {
      await restored.kill();
      await restored.cleanup();
    }
    expect(await readdir(fork.runDir)).toEqual([]);
  });

  it('refuses a restore whose disk is gone, naming it', async () => {
    const spec = await newSpec();
    const vm = await driver.launch(spec);
    const dir = join(root, `snapshot-${runs}`);
    await mkdir(dir);
    await captureVm(vm, dir, spec.disk.path);
    await vm.kill();
    await vm.cleanup();
    const target = { ...(await newSpec()), disk: { path: join(root, 'no-such-disk.qcow2') } };
    const failure = await driver.restore(target, dir).then(() => null, (error: unknown) => error as Error);
    expect(failure?.message).toContain('The VM could not be restored');
    expect(failure?.message).toContain('Cannot open disk path');
    expect(failure?.message).toContain('no-such-disk.qcow2');
  });
});

describe('the stand-in opens disks as CH does', () => {
  async function bootWith(disks: Record<string, unknown>[]): Promise<string | null> {
    const spec = await newSpec();
    const api = join(spec.runDir, 'api.sock');
    const { spawn } = await import('node:child_process');
    const child = spawn(STANDIN, ['--api-socket', `path=${api}`], { stdio: 'ignore' });
    const client = new ChApiClient(api);
    try {
      for (let i = 0; ; i++) {
        if (await client.ping().then(() => true, () => false)) break;
        if (i > 400) throw new Error('the stand-in did not start');
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
      const config = { ...chVmConfig(spec, { serialLog: join(spec.runDir, 'serial.log'), vsockSocket: join(spec.runDir, 'vsock.sock') }), disks: disks.map((d) => ({ path: spec.disk.path, ...d })) };
      await client.createVm(config as unknown as ChVmConfig);
      return await client.action('vm.boot').then(() => null, (error: Error) => error.message);
    } finally {
      child.kill('SIGKILL');
      await new Promise((resolve) => child.once('exit', resolve));
    }
  }

  it('turns backing files off for an auto-detected qcow2 (CH v51+), so an overlay cannot open', async () => {
    expect(await bootWith([{}])).toContain('Maximum disk nesting depth exceeded');
    expect(await bootWith([{ image_type: 'Qcow2' }])).toContain('Maximum disk nesting depth exceeded');
    expect(await bootWith([{ image_type: 'Raw' }])).toContain('Disk image type does not match expected type: specified = Raw, detected = Qcow2');
    expect(await bootWith([{ image_type: 'Qcow2', backing_files: true }])).toBeNull();
  });

  it('rejects DiskConfig fields CH does not have', async () => {
    const failure = await bootWith([{ image_type: 'Qcow2', backing_files: true, backing: true }]).catch((error: Error) => error.message);
    expect(failure).toContain('unknown field `backing`');
  });
});

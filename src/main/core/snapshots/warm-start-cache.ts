import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { HypervisorKind, RunningVm, VmStateFile } from '../hypervisor/hypervisor-driver.js';
import { hashFile } from '../hypervisor/state-file-digest.js';
import type { SnapshotBoot } from '../store/snapshot-store.js';
import { captureVm } from './disk-capture.js';

/** Which booted state fits a new sandbox: the same image, hypervisor and machine size. */
export interface WarmStartKey {
  imageDir: string;
  hypervisor: HypervisorKind;
  vcpus: number;
  memoryMiB: number;
  /** The disk's size (its file system was grown to it at boot); null without a disk. */
  diskMiB: number | null;
}

export interface WarmState {
  dir: string;
  boot: SnapshotBoot;
}

interface WarmManifest {
  boot: SnapshotBoot;
  vmmVersion: string;
  files: VmStateFile[];
  capturedAt: string;
}

/**
 * Booted guests kept next to their image, one per hypervisor and machine size: a new
 * sandbox restores one (then gets its own identity) instead of booting. The first
 * sandbox of each shape is captured right after its agent answers, before it runs
 * anything of the user's; with a disk, its overlay is captured too (disk.qcow2) and each
 * warm-started sandbox gets a copy. A state is checked against its manifest the first
 * time this process uses it.
 */
export class WarmStartCache {
  private readonly verified = new Set<string>();

  async find(key: WarmStartKey): Promise<WarmState | null> {
    const dir = warmDir(key);
    const manifest = await readFile(join(dir, 'manifest.json'), 'utf8').then((text) => JSON.parse(text) as WarmManifest, () => null);
    if (!manifest) return null;
    if (!this.verified.has(dir)) {
      for (const expected of manifest.files) {
        const actual = await hashFile(dir, expected.name).catch(() => null);
        if (actual?.sha256 !== expected.sha256 || actual.size !== expected.size) {
          await this.discard(key);
          return null;
        }
      }
      this.verified.add(dir);
    }
    return { dir, boot: manifest.boot };
  }

  /** Saves a freshly booted VM's state (and its disk, if any) for its shape, unless another sandbox got there first. */
  async capture(key: WarmStartKey, vm: RunningVm, boot: SnapshotBoot, disk: string | null = null): Promise<void> {
    const dir = warmDir(key);
    const partial = `${dir}.partial-${process.pid}-${Date.now()}`;
    await mkdir(partial, { recursive: true, mode: 0o700 });
    try {
      const saved = await captureVm(vm, partial, disk);
      const manifest: WarmManifest = { boot, vmmVersion: saved.vmmVersion, files: saved.files, capturedAt: new Date().toISOString() };
      await writeFile(join(partial, 'manifest.json'), JSON.stringify(manifest, null, 2));
      await rename(partial, dir).catch((error: NodeJS.ErrnoException) => {
        if (error.code !== 'ENOTEMPTY' && error.code !== 'EEXIST') throw error;
      });
    } finally {
      await rm(partial, { recursive: true, force: true });
    }
  }

  async discard(key: WarmStartKey): Promise<void> {
    const dir = warmDir(key);
    this.verified.delete(dir);
    await rm(dir, { recursive: true, force: true });
  }
}

function warmDir(key: WarmStartKey): string {
  const disk = key.diskMiB === null ? '' : `-disk${key.diskMiB}mib`;
  return join(key.imageDir, 'warm', `${key.hypervisor}-${key.vcpus}cpu-${key.memoryMiB}mib${disk}`);
}

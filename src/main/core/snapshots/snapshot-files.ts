import { open, mkdir, readdir, rename, rm, statfs } from 'node:fs/promises';
import { join } from 'node:path';
import { SandboxError } from '../errors/sandbox-error.js';
import type { VmStateFile } from '../hypervisor/hypervisor-driver.js';
import { hashFile } from '../hypervisor/state-file-digest.js';
import { appPaths } from '../paths/app-paths.js';

const PARTIAL_PREFIX = '.partial-';
/** Room kept free beyond a snapshot's own size, so taking one never fills the disk. */
const HEADROOM_BYTES = 256 * 1024 * 1024;

/**
 * Where snapshots live on disk, and the rules that keep them trustworthy: a snapshot is
 * written into a partial directory and renamed into place only when complete, its files'
 * checksums are recorded, and they are verified before anything is restored from it.
 */
export class SnapshotFiles {
  constructor(readonly root: string = join(appPaths().data, 'snapshots')) {}

  dir(sandboxId: string, snapshotId: string): string {
    return join(this.root, sandboxId, snapshotId);
  }

  /** Refuses, before anything is written, a snapshot that could not fit with headroom to spare. */
  async ensureSpace(expectedBytes: number): Promise<void> {
    await mkdir(this.root, { recursive: true, mode: 0o700 });
    const fs = await statfs(this.root);
    const free = fs.bavail * fs.bsize;
    if (free < expectedBytes + HEADROOM_BYTES) {
      throw new SandboxError(
        'insufficient_space',
        `not enough disk space for a snapshot: it needs up to ${mib(expectedBytes)} MiB plus ${mib(HEADROOM_BYTES)} MiB headroom, and ${this.root} has ${mib(free)} MiB free`,
        { freeBytes: free, neededBytes: expectedBytes + HEADROOM_BYTES },
      );
    }
  }

  /** An empty directory to capture into; it is invisible to listings until committed. */
  async begin(sandboxId: string, snapshotId: string): Promise<string> {
    const partial = join(this.root, sandboxId, `${PARTIAL_PREFIX}${snapshotId}`);
    await mkdir(partial, { recursive: true, mode: 0o700 });
    return partial;
  }

  /** Flushes the captured files to disk and moves them into place. */
  async commit(sandboxId: string, snapshotId: string): Promise<string> {
    const partial = join(this.root, sandboxId, `${PARTIAL_PREFIX}${snapshotId}`);
    for (const name of await readdir(partial)) await fsync(join(partial, name));
    const dir = this.dir(sandboxId, snapshotId);
    await rename(partial, dir);
    await fsync(join(this.root, sandboxId));
    return dir;
  }

  async abandon(sandboxId: string, snapshotId: string): Promise<void> {
    await rm(join(this.root, sandboxId, `${PARTIAL_PREFIX}${snapshotId}`), { recursive: true, force: true });
  }

  async remove(sandboxId: string, snapshotId: string): Promise<void> {
    await rm(this.dir(sandboxId, snapshotId), { recursive: true, force: true });
  }

  async removeSandbox(sandboxId: string): Promise<void> {
    await rm(join(this.root, sandboxId), { recursive: true, force: true });
  }

  /** Every file must exist with its recorded size and checksum; the first that does not is named. */
  async verify(sandboxId: string, snapshotId: string, files: readonly VmStateFile[], label: string): Promise<string> {
    const dir = this.dir(sandboxId, snapshotId);
    for (const expected of files) {
      const actual = await hashFile(dir, expected.name).catch((error: NodeJS.ErrnoException) => {
        throw new SandboxError('snapshot_corrupt', `snapshot ${label} cannot be restored: its file ${expected.name} is ${error.code === 'ENOENT' ? 'missing' : `unreadable (${error.message})`}`, { file: expected.name });
      });
      if (actual.size !== expected.size || actual.sha256 !== expected.sha256) {
        throw new SandboxError(
          'snapshot_corrupt',
          `snapshot ${label} cannot be restored: its file ${expected.name} does not match the checksum recorded when it was taken (${actual.size} bytes, expected ${expected.size})`,
          { file: expected.name },
        );
      }
    }
    return dir;
  }

  /**
   * Removes what a crash can leave: partial captures, and directories whose snapshot was
   * never registered (or was deleted) — `known` holds the registered ids per sandbox.
   */
  async sweep(known: ReadonlyMap<string, ReadonlySet<string>>): Promise<void> {
    for (const sandboxId of await readdir(this.root).catch(() => [] as string[])) {
      const ids = known.get(sandboxId);
      if (!ids) {
        await this.removeSandbox(sandboxId);
        continue;
      }
      for (const entry of await readdir(join(this.root, sandboxId))) {
        if (!ids.has(entry)) await rm(join(this.root, sandboxId, entry), { recursive: true, force: true });
      }
    }
  }
}

async function fsync(path: string): Promise<void> {
  const handle = await open(path, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

function mib(bytes: number): number {
  return Math.round(bytes / 1024 / 1024);
}

import { constants } from 'node:fs';
import { copyFile, rename, rm } from 'node:fs/promises';
import { execa } from 'execa';
import { SandboxError } from '../errors/sandbox-error.js';

/** A sandbox's disk in its directory, and a snapshot's copy of it in the snapshot's. */
export const DISK_FILE = 'disk.qcow2';

/** What an interrupted write of a disk leaves behind: `<file>.partial-<pid>`. */
export const PARTIAL_DISK = /\.partial-\d+$/;

/**
 * Creates a sandbox's copy-on-write disk: a qcow2 overlay of `sizeMiB` whose backing file
 * is the image's raw ext4. Nothing of the image is copied, so this costs the same for
 * any image size; the guest's writes land in the overlay and the image is never written.
 */
export async function createOverlay(backing: string, path: string, sizeMiB: number): Promise<void> {
  const partial = `${path}.partial-${process.pid}`;
  try {
    await execa('qemu-img', ['create', '-q', '-f', 'qcow2', '-F', 'raw', '-b', backing, partial, `${sizeMiB}M`], { env: { LC_ALL: 'C' } });
    await rename(partial, path);
  } catch (error) {
    await rm(partial, { force: true });
    const e = error as { code?: string; stderr?: string; message: string };
    if (e.code === 'ENOENT') throw new SandboxError('missing_tool', "qemu-img was not found: install Debian's qemu-utils package");
    if (/No space left/i.test(e.stderr ?? '') || e.code === 'ENOSPC') throw new SandboxError('insufficient_space', `no space left for the disk ${path}`);
    throw new SandboxError('hypervisor_error', `creating the disk ${path} over ${backing} failed: ${e.stderr || e.message}`);
  }
}

/**
 * Copies a disk overlay (into a snapshot, or out of one into a sandbox), replacing
 * `to` atomically. A reflink where the file system can (btrfs, XFS), else a copy: an
 * overlay holds only what the guest wrote, not the image under it.
 */
export async function copyDisk(from: string, to: string): Promise<void> {
  const partial = `${to}.partial-${process.pid}`;
  try {
    await copyFile(from, partial, constants.COPYFILE_FICLONE);
    await rename(partial, to);
  } catch (error) {
    await rm(partial, { force: true });
    if ((error as NodeJS.ErrnoException).code === 'ENOSPC') throw new SandboxError('insufficient_space', `no space left to copy the disk ${from} to ${to}`);
    throw error;
  }
}

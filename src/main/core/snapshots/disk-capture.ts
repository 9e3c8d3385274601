import { join } from 'node:path';
import type { RunningVm, VmSnapshot } from '../hypervisor/hypervisor-driver.js';
import { hashFile } from '../hypervisor/state-file-digest.js';
import { copyDisk, DISK_FILE } from '../sandbox/sandbox-disk.js';

/**
 * Saves a VM's memory and device state into `dir` and, for a sandbox with a disk, a copy
 * of its overlay as `disk.qcow2`. The guest stays paused from before the state capture
 * until the overlay is copied, so the disk matches the memory exactly (QEMU flushes its
 * block layer when it stops the guest and again when the migration completes); it
 * resumes before the copy is hashed. The returned files include the disk, with `pauseMs`
 * covering the whole pause.
 */
export async function captureVm(vm: RunningVm, dir: string, disk: string | null): Promise<VmSnapshot> {
  if (!disk) return vm.snapshot(dir);
  const wasRunning = (await vm.status()) === 'running';
  const started = performance.now();
  if (wasRunning) await vm.pause();
  let saved: VmSnapshot;
  try {
    saved = await vm.snapshot(dir);
    await copyDisk(disk, join(dir, DISK_FILE));
  } finally {
    if (wasRunning) await vm.resume();
  }
  const pauseMs = performance.now() - started;
  const copy = await hashFile(dir, DISK_FILE);
  return { ...saved, files: [...saved.files, copy], pauseMs };
}

/** The bytes of a captured state that are the disk, and the rest. */
export function splitSizes(files: readonly { name: string; size: number }[]): { stateBytes: number; diskBytes: number } {
  let stateBytes = 0;
  let diskBytes = 0;
  for (const file of files) {
    if (file.name === DISK_FILE) diskBytes += file.size;
    else stateBytes += file.size;
  }
  return { stateBytes, diskBytes };
}

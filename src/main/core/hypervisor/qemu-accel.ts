import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { appPaths } from '../paths/app-paths.js';
import { probeKvm, type KvmProbeResult } from './kvm-probe.js';
import type { QemuAccel } from './qemu-command.js';

export interface AccelChoice {
  accel: QemuAccel;
  reason: string;
}

/**
 * KVM when it really runs guests, TCG otherwise. MICROVM_QEMU_ACCEL forces one. The probe
 * result is kept in the runtime directory per boot, since KVM's usability only changes
 * across reboots (module loads aside).
 */
export async function chooseQemuAccel(kernel: string): Promise<AccelChoice> {
  const forced = process.env.MICROVM_QEMU_ACCEL;
  if (forced === 'kvm' || forced === 'tcg') return { accel: forced, reason: `MICROVM_QEMU_ACCEL=${forced}` };
  const probe = await cachedProbe(kernel);
  return probe.usable
    ? { accel: 'kvm', reason: probe.reason }
    : { accel: 'tcg', reason: `software emulation (TCG): ${probe.reason}` };
}

/** Whether KVM really runs guests here (probed once per boot). */
export async function cachedProbe(kernel: string): Promise<KvmProbeResult> {
  const bootId = (await readFile('/proc/sys/kernel/random/boot_id', 'utf8').catch(() => 'unknown')).trim();
  const file = join(appPaths().runtime, 'kvm-probe.json');
  try {
    const cached = JSON.parse(await readFile(file, 'utf8')) as KvmProbeResult & { bootId: string };
    if (cached.bootId === bootId) return cached;
  } catch {
    // No usable cache: probe below.
  }
  const result = await probeKvm(kernel);
  await mkdir(appPaths().runtime, { recursive: true, mode: 0o700 });
  await writeFile(file, JSON.stringify({ ...result, bootId }));
  return result;
}

import { statfs } from 'node:fs/promises';
import { availableParallelism, totalmem } from 'node:os';
import type { AppConfig } from '../config/app-config.js';
import { chooseHypervisor } from '../hypervisor/hypervisor-choice.js';
import { cachedProbe, chooseQemuAccel } from '../hypervisor/qemu-accel.js';
import { appPaths } from '../paths/app-paths.js';
import { hostMemAvailableMiB } from '../sandbox/host-resources.js';
import type { HypervisorKind } from '../hypervisor/hypervisor-driver.js';

export interface SystemInfo {
  hypervisor: { configured: string; chosen: HypervisorKind | null; reason: string; kvm: boolean; qemuAccel: string };
  limits: AppConfig['limits'];
  host: { cpus: number; memoryTotalMiB: number; memoryAvailableMiB: number; diskFreeBytes: number };
}

/** What this host offers sandboxes: the hypervisor a new one gets and why, the limits, free resources. */
export async function systemInfo(config: AppConfig, kernel: string): Promise<SystemInfo> {
  const choice = await chooseHypervisor(config.hypervisor, config, kernel).then(
    (report) => ({ chosen: report.chosen, reason: report.reason }),
    (error: Error) => ({ chosen: null, reason: error.message }),
  );
  const [kvm, accel, memoryAvailableMiB, disk] = await Promise.all([
    cachedProbe(kernel),
    chooseQemuAccel(kernel),
    hostMemAvailableMiB(),
    statfs(appPaths().data).catch(() => statfs('/')),
  ]);
  return {
    hypervisor: { configured: config.hypervisor, ...choice, kvm: kvm.usable, qemuAccel: accel.accel },
    limits: config.limits,
    host: {
      cpus: availableParallelism(),
      memoryTotalMiB: Math.floor(totalmem() / 1024 / 1024),
      memoryAvailableMiB,
      diskFreeBytes: disk.bavail * disk.bsize,
    },
  };
}

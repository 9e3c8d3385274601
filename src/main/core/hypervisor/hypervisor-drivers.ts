import type { AppConfig } from '../config/app-config.js';
import { CloudHypervisorDriver } from './cloud-hypervisor/cloud-hypervisor-driver.js';
import type { HypervisorDriver, HypervisorKind } from './hypervisor-driver.js';
import { QemuDriver } from './qemu/qemu-driver.js';

/** Both drivers, with the binaries the config names; the manager picks one per sandbox. */
export function hypervisorDrivers(config: AppConfig): Record<HypervisorKind, HypervisorDriver> {
  return {
    qemu: new QemuDriver({ binary: config.qemuBinary }),
    'cloud-hypervisor': new CloudHypervisorDriver({ binary: config.cloudHypervisorBinary }),
  };
}

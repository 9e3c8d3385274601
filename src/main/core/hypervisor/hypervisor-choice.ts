import { access, constants } from 'node:fs/promises';
import { delimiter, isAbsolute, join } from 'node:path';
import type { AppConfig, HypervisorChoice } from '../config/app-config.js';
import { SandboxError } from '../errors/sandbox-error.js';
import type { HypervisorKind } from './hypervisor-driver.js';
import { cachedProbe } from './qemu-accel.js';

export interface HypervisorCheck {
  name: string;
  ok: boolean;
  detail: string;
}

export interface HypervisorReport {
  chosen: HypervisorKind;
  reason: string;
  checks: HypervisorCheck[];
}

/**
 * `auto` takes Cloud Hypervisor when its binary is found and KVM really runs guests,
 * QEMU otherwise. The report lists each check, which is what `microvm doctor` shows.
 */
export async function chooseHypervisor(requested: HypervisorChoice, config: AppConfig, kernel: string): Promise<HypervisorReport> {
  const ch = await findExecutable(config.cloudHypervisorBinary);
  const qemu = await findExecutable(config.qemuBinary);
  const kvm = await cachedProbe(kernel);
  const checks: HypervisorCheck[] = [
    { name: 'cloud-hypervisor binary', ok: ch !== null, detail: ch ?? `"${config.cloudHypervisorBinary}" not found (config key cloudHypervisorBinary, or PATH)` },
    { name: 'qemu binary', ok: qemu !== null, detail: qemu ?? `"${config.qemuBinary}" not found: install qemu-system-x86` },
    { name: 'kvm', ok: kvm.usable, detail: kvm.reason },
  ];
  const chUsable = ch !== null && kvm.usable;
  const missing = (kind: string) =>
    checks.filter((c) => !c.ok && (kind === 'qemu' ? c.name === 'qemu binary' : c.name !== 'qemu binary')).map((c) => c.detail).join('; ');

  if (requested === 'cloud-hypervisor' || (requested === 'auto' && chUsable)) {
    if (!chUsable) throw new SandboxError('hypervisor_unavailable', `Cloud Hypervisor cannot run here: ${missing('cloud-hypervisor')}`);
    return { chosen: 'cloud-hypervisor', reason: requested === 'auto' ? 'auto: Cloud Hypervisor and KVM are usable' : 'requested', checks };
  }
  if (!qemu) throw new SandboxError('hypervisor_unavailable', `QEMU cannot run here: ${missing('qemu')}`);
  const reason = requested === 'auto' ? `auto: QEMU, because Cloud Hypervisor is not usable (${missing('cloud-hypervisor')})` : 'requested';
  return { chosen: 'qemu', reason, checks };
}

async function findExecutable(name: string): Promise<string | null> {
  const candidates = isAbsolute(name) || name.includes('/') ? [name] : (process.env.PATH ?? '').split(delimiter).map((dir) => join(dir, name));
  for (const path of candidates) {
    if (await access(path, constants.X_OK).then(() => true, () => false)) return path;
  }
  return null;
}

import { access, constants as fsConstants, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';

export interface KvmProbeResult {
  usable: boolean;
  reason: string;
}

const PROBE_TIMEOUT_MS = 10_000;

/**
 * Whether QEMU can really run a Linux guest with KVM. An openable /dev/kvm is not
 * enough: some hosts (nested setups such as PVM) create VMs happily and then fail once a
 * kernel enters long mode. So the probe boots the given kernel with no root filesystem
 * and `panic=-1`: a working KVM reaches the "no root" panic and exits in well under a
 * second; a broken one errors out or hangs until the timeout.
 */
export async function probeKvm(kernel: string): Promise<KvmProbeResult> {
  try {
    await access('/dev/kvm', fsConstants.R_OK | fsConstants.W_OK);
  } catch {
    return { usable: false, reason: '/dev/kvm is missing or not accessible to this user' };
  }
  const dir = await mkdtemp(join(tmpdir(), 'microvm-kvm-probe-'));
  const log = join(dir, 'serial.log');
  try {
    const run = await execa(
      'qemu-system-x86_64',
      ['-M', 'microvm', '-accel', 'kvm', '-cpu', 'host', '-m', '128', '-nodefaults', '-no-user-config',
        '-display', 'none', '-no-reboot', '-kernel', kernel, '-append', 'console=ttyS0 panic=-1 pci=off',
        '-serial', `file:${log}`],
      { timeout: PROBE_TIMEOUT_MS, reject: false },
    );
    const serial = await readFile(log, 'utf8').catch(() => '');
    if (run.timedOut) return { usable: false, reason: `a KVM guest kernel did not get through boot within ${PROBE_TIMEOUT_MS / 1000} s (KVM is present but does not run Linux guests)` };
    if (run.exitCode === 0 && serial.includes('Kernel panic')) return { usable: true, reason: 'a KVM guest kernel booted' };
    return { usable: false, reason: `QEMU could not run a KVM guest: ${(run.stderr || `exit code ${run.exitCode}`).trim().split('\n').pop()}` };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

import { readFile } from 'node:fs/promises';

/**
 * The host's TSC frequency in kHz, or null when it cannot be told.
 *
 * Why it matters: under TCG the guest's TSC is the host's TSC (QEMU reads the host
 * counter), but `-M microvm` offers the guest no HPET or ACPI PM timer to calibrate it
 * against, only the emulated PIT. When the host is busy, PIT calibration fails, the
 * kernel marks the TSC unstable and boot stalls. Passing `tsc_early_khz` tells the guest
 * the frequency and skips the calibration.
 */
export async function hostTscKhz(): Promise<number | null> {
  const base = await readNumber('/sys/devices/system/cpu/cpu0/cpufreq/base_frequency');
  if (base) return base;
  const cpuinfo = await readFile('/proc/cpuinfo', 'utf8').catch(() => '');
  return tscKhzFromCpuinfo(cpuinfo);
}

/**
 * Intel model names end in the nominal frequency ("@ 2.60GHz"), which is the TSC's. In a
 * VM the hypervisor reports the TSC frequency as "cpu MHz". On other bare-metal hosts
 * "cpu MHz" is the current clock, the best guess left.
 */
export function tscKhzFromCpuinfo(cpuinfo: string): number | null {
  const first = cpuinfo.split('\n\n')[0] ?? '';
  const field = (name: string) => new RegExp(`^${name}\\s*:\\s*(.*)$`, 'm').exec(first)?.[1]?.trim();
  const flags = (field('flags') ?? '').split(/\s+/);
  const mhz = Number(field('cpu MHz'));
  const nominal = /@\s*([\d.]+)\s*GHz/i.exec(field('model name') ?? '');
  if (flags.includes('hypervisor') && mhz > 0) return Math.round(mhz * 1000);
  if (nominal?.[1]) return Math.round(Number(nominal[1]) * 1_000_000);
  return mhz > 0 ? Math.round(mhz * 1000) : null;
}

async function readNumber(path: string): Promise<number | null> {
  const text = await readFile(path, 'utf8').catch(() => '');
  const n = Number(text.trim());
  return Number.isFinite(n) && n > 0 ? n : null;
}

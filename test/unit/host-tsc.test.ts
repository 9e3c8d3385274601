import { describe, expect, it } from 'vitest';
import { tscKhzFromCpuinfo } from '../../src/main/core/hypervisor/host-tsc.js';

const cpu = (fields: Record<string, string>) =>
  `${Object.entries(fields).map(([k, v]) => `${k}\t: ${v}`).join('\n')}\n\nprocessor\t: 1\ncpu MHz\t: 999.000\n`;

describe('tscKhzFromCpuinfo', () => {
  it('trusts cpu MHz inside a VM, where the hypervisor reports the TSC rate', () => {
    const info = cpu({ 'model name': 'Intel(R) Xeon(R) CPU @ 2.20GHz', 'cpu MHz': '2600.000', flags: 'fpu tsc hypervisor' });
    expect(tscKhzFromCpuinfo(info)).toBe(2_600_000);
  });

  it('takes the nominal frequency from an Intel model name on bare metal', () => {
    const info = cpu({ 'model name': 'Intel(R) Core(TM) i7-8650U CPU @ 1.90GHz', 'cpu MHz': '3400.012', flags: 'fpu tsc constant_tsc' });
    expect(tscKhzFromCpuinfo(info)).toBe(1_900_000);
  });

  it('falls back to cpu MHz, and to null when nothing is known', () => {
    expect(tscKhzFromCpuinfo(cpu({ 'model name': 'AMD Ryzen 7 5800X', 'cpu MHz': '3800.5', flags: 'fpu' }))).toBe(3_800_500);
    expect(tscKhzFromCpuinfo('')).toBeNull();
  });
});

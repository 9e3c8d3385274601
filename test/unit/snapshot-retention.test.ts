import { describe, expect, it } from 'vitest';
import { planRetention } from '../../src/main/core/snapshots/snapshot-retention.js';
import type { SnapshotRecord } from '../../src/main/core/store/snapshot-store.js';

const MIB = 1024 * 1024;

function snap(id: string, sandboxId: string, createdAt: number, sizeMiB = 10): SnapshotRecord {
  return {
    id,
    sandboxId,
    parentId: null,
    name: id,
    description: '',
    createdAt,
    hypervisor: 'qemu',
    vmmVersion: '7.2.0',
    template: 'minimal',
    vcpus: 1,
    memoryMiB: 256,
    boot: { kernel: '/k', initrd: '/i', cmdline: '' },
    stateBytes: sizeMiB * MIB,
    diskBytes: 0,
    pauseMs: 1,
    files: [],
    thumbnail: null,
  };
}

describe('snapshot retention', () => {
  const all = [snap('a1', 'a', 1), snap('a2', 'a', 2), snap('b1', 'b', 3), snap('a3', 'a', 4), snap('a4', 'a', 5)];

  it('deletes the sandbox’s oldest snapshots beyond keepPerSandbox, leaving other sandboxes alone', () => {
    const plan = planRetention(all, 'a', new Set(), { keepPerSandbox: 2, maxTotalMiB: 0 });
    expect(plan.victims.map((s) => s.id)).toEqual(['a1', 'a2']);
    expect(plan.note).toBeNull();
  });

  it('never deletes an ancestor of a current state, and says so when that keeps it over the limit', () => {
    // a4 is the current state (just taken), descending from a2 and a1.
    const plan = planRetention(all, 'a', new Set(['a4', 'a2', 'a1']), { keepPerSandbox: 2, maxTotalMiB: 0 });
    expect(plan.victims.map((s) => s.id)).toEqual(['a3']);
    expect(plan.note).toMatch(/1 over snapshots.keepPerSandbox \(2\) kept: they are ancestors of the current state/);
  });

  it('then trims the oldest of all sandboxes while the total is over maxTotalMiB', () => {
    const plan = planRetention(all, 'a', new Set(['a4']), { keepPerSandbox: 10, maxTotalMiB: 25 });
    expect(plan.victims.map((s) => s.id)).toEqual(['a1', 'a2', 'b1']);
    expect(plan.note).toBeNull();
  });

  it('reports a total it cannot bring under the cap because the rest are ancestors', () => {
    const plan = planRetention(all, 'a', new Set(['a1', 'a2', 'b1', 'a3', 'a4']), { keepPerSandbox: 10, maxTotalMiB: 5 });
    expect(plan.victims).toEqual([]);
    expect(plan.note).toMatch(/snapshots total 50 MiB, over snapshots.maxTotalMiB \(5\)/);
  });
});

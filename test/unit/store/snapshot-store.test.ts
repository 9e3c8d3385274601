import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { SandboxStore } from '../../../src/main/core/store/sandbox-store.js';
import type { SnapshotRecord } from '../../../src/main/core/store/snapshot-store.js';

let dir: string;
let dbPath: string;
let store: SandboxStore;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'microvm-snapstore-'));
  dbPath = join(dir, 'microvm.db');
  store = SandboxStore.open(dbPath);
  for (const id of ['a', 'b']) store.insert({ id, name: `box-${id}`, template: 'minimal', hypervisor: 'qemu', vcpus: 1, memoryMiB: 256 });
});

afterEach(() => {
  store.close();
  rmSync(dir, { recursive: true, force: true });
});

let clock = 0;
function take(id: string, sandboxId: string, name = id): SnapshotRecord {
  return store.snapshots.insert({
    id,
    sandboxId,
    parentId: store.get(sandboxId)!.currentSnapshotId,
    name,
    description: '',
    createdAt: ++clock,
    hypervisor: 'qemu',
    vmmVersion: '7.2.0',
    template: 'minimal',
    vcpus: 1,
    memoryMiB: 256,
    boot: { kernel: '/k', initrd: '/i', cmdline: 'quiet' },
    stateBytes: 100,
    diskBytes: 0,
    pauseMs: 12.5,
    files: [{ name: 'memory.qemu', size: 100, sha256: 'ab'.repeat(32) }],
    thumbnail: null,
  });
}

it('registers a snapshot together with the sandbox’s new position, and reads it back whole', () => {
  const s1 = take('s1', 'a');
  expect(store.get('a')!.currentSnapshotId).toBe('s1');
  expect(store.snapshots.get('s1')).toEqual(s1);
  const s2 = take('s2', 'a');
  expect(s2.parentId).toBe('s1');
  expect(store.snapshots.lineage('s2').map((s) => s.id)).toEqual(['s2', 's1']);
});

it('refuses a second snapshot of the same name in one sandbox, but not in another', () => {
  take('s1', 'a', 'same');
  expect(() => take('s2', 'a', 'same')).toThrow(expect.objectContaining({ code: 'already_exists' }));
  expect(store.get('a')!.currentSnapshotId).toBe('s1');
  expect(take('s3', 'b', 'same').name).toBe('same');
});

it('deletes a middle snapshot by re-parenting its children and moving positions to its parent', () => {
  take('s1', 'a');
  take('s2', 'a');
  take('s3', 'a');
  store.snapshots.setCurrent('b', 's2');
  store.snapshots.delete('s2');
  expect(store.snapshots.get('s3')!.parentId).toBe('s1');
  expect(store.get('b')!.currentSnapshotId).toBe('s1');
  expect(store.get('a')!.currentSnapshotId).toBe('s3');
  expect(() => store.snapshots.delete('s2')).toThrow(expect.objectContaining({ code: 'not_found' }));
});

it('drops a sandbox’s snapshots with it, detaching forks that descended from them', () => {
  take('s1', 'a');
  store.snapshots.setCurrent('b', 's1');
  take('f1', 'b');
  expect(store.snapshots.get('f1')!.parentId).toBe('s1');
  store.delete('a');
  expect(store.snapshots.ofSandbox('a')).toEqual([]);
  expect(store.snapshots.get('f1')!.parentId).toBeNull();
  expect(store.snapshots.all().map((s) => s.id)).toEqual(['f1']);
});

it('keeps the tree across a reopen', () => {
  take('s1', 'a');
  take('s2', 'a');
  store.close();
  store = SandboxStore.open(dbPath);
  expect(store.snapshots.ofSandbox('a').map((s) => [s.id, s.parentId])).toEqual([['s1', null], ['s2', 's1']]);
  expect(store.get('a')!.currentSnapshotId).toBe('s2');
});

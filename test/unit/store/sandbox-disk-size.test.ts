import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MIGRATIONS, applyMigrations } from '../../../src/main/core/store/migrations.js';
import { SandboxStore } from '../../../src/main/core/store/sandbox-store.js';

let dir: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'microvm-store-disk-'));
});

afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('the disk size of a sandbox in the store', () => {
  it('is stored with the sandbox, and null for a sandbox without a disk', () => {
    const store = SandboxStore.open(join(dir, 'microvm.db'));
    try {
      const base = { template: 'tiny', hypervisor: 'qemu' as const, vcpus: 1, memoryMiB: 256 };
      expect(store.insert({ ...base, id: 'a', name: 'a', diskMiB: 4096 }).diskMiB).toBe(4096);
      expect(store.insert({ ...base, id: 'b', name: 'b' }).diskMiB).toBeNull();
      expect(store.get('a')?.diskMiB).toBe(4096);
      expect(store.get('b')?.diskMiB).toBeNull();
      expect(store.transition('a', { to: 'running' }).diskMiB).toBe(4096);
      expect(() => store.insert({ ...base, id: 'c', name: 'c', diskMiB: 0 })).toThrow(/CHECK constraint/);
    } finally {
      store.close();
    }
  });

  it('comes to sandboxes of an older database as null (no disk), their other fields kept', () => {
    const path = join(dir, 'old.db');
    const db = new Database(path);
    applyMigrations(db, MIGRATIONS.filter((m) => m.version <= 2));
    db.prepare(
      `INSERT INTO sandboxes (id, name, template, hypervisor, vcpus, memory_mib, labels, state, created_at, updated_at)
       VALUES ('old', 'old', 'minimal', 'qemu', 2, 512, '{}', 'stopped', 1, 1)`,
    ).run();
    db.close();
    const store = SandboxStore.open(path);
    try {
      expect(store.get('old')).toMatchObject({ name: 'old', vcpus: 2, memoryMiB: 512, diskMiB: null, state: 'stopped' });
    } finally {
      store.close();
    }
  });
});

import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MIGRATIONS, applyMigrations, schemaVersion, type Migration } from '../../../src/main/core/store/migrations.js';
import { SandboxStore } from '../../../src/main/core/store/sandbox-store.js';

let dir: string;
let dbPath: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'microvm-store-'));
  dbPath = join(dir, 'microvm.db');
});

afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

function migrationRows(path: string): { version: number; description: string; applied_at: number }[] {
  const db = new Database(path, { readonly: true });
  try {
    return db.prepare('SELECT * FROM schema_migrations ORDER BY version').all() as never;
  } finally {
    db.close();
  }
}

const sha256 = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');

describe('migrations', () => {
  it('are numbered 1, 2, 3… with no gaps, so each one runs exactly once in order', () => {
    expect(MIGRATIONS.map((m) => m.version)).toEqual(MIGRATIONS.map((_, i) => i + 1));
  });

  it('apply once on a new database and are not re-applied on reopen', () => {
    SandboxStore.open(dbPath).close();
    const first = migrationRows(dbPath);
    expect(first.map((r) => r.version)).toEqual(MIGRATIONS.map((m) => m.version));

    SandboxStore.open(dbPath).close();
    SandboxStore.open(dbPath).close();
    expect(migrationRows(dbPath)).toEqual(first);
  });

  it('leave the database in WAL mode with the expected tables', () => {
    SandboxStore.open(dbPath).close();
    const db = new Database(dbPath, { readonly: true });
    try {
      expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
      const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").pluck().all();
      expect(tables).toEqual(expect.arrayContaining(['sandboxes', 'sandbox_events', 'schema_migrations']));
    } finally {
      db.close();
    }
  });

  it('refuse a database from a newer version, naming both versions, without modifying it', () => {
    SandboxStore.open(dbPath).close();
    const db = new Database(dbPath);
    db.prepare("INSERT INTO schema_migrations VALUES (99, 'from the future', 0)").run();
    db.close();
    const before = sha256(dbPath);

    let caught: unknown;
    try {
      SandboxStore.open(dbPath);
    } catch (err) {
      caught = err;
    }
    expect(caught).toMatchObject({ code: 'store_too_new' });
    expect((caught as Error).message).toContain(dbPath);
    expect((caught as Error).message).toMatch(new RegExp(`version 99\\b.*up to version ${MIGRATIONS.length}\\b`));

    expect(sha256(dbPath)).toBe(before);
    expect(existsSync(`${dbPath}-wal`)).toBe(false);
    expect(migrationRows(dbPath).map((r) => r.version)).toEqual([...MIGRATIONS.map((m) => m.version), 99]);
  });

  it('roll a failing migration back completely and keep the earlier ones', () => {
    const broken: Migration = {
      version: MIGRATIONS.length + 1,
      description: 'fails halfway',
      up(db) {
        db.exec('CREATE TABLE half_done (x INTEGER)');
        throw new Error('boom');
      },
    };
    const db = new Database(dbPath);
    try {
      expect(() => applyMigrations(db, [...MIGRATIONS, broken])).toThrow('boom');
      expect(schemaVersion(db)).toBe(MIGRATIONS.length);
      expect(db.prepare("SELECT name FROM sqlite_master WHERE name = 'half_done'").get()).toBeUndefined();
    } finally {
      db.close();
    }
  });
});

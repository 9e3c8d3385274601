import type { Database } from 'better-sqlite3';
import { SandboxError } from '../errors/sandbox-error.js';

export interface Migration {
  version: number;
  description: string;
  up(db: Database): void;
}

/**
 * The schema's whole history, oldest first. A released migration is never edited: its SQL
 * is written out literally (not built from today's constants) so that a database migrated
 * a year ago and one created today end up with the same schema.
 */
export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    description: 'sandboxes and their state-transition audit trail',
    up(db) {
      // Timestamps are unix milliseconds (INTEGER): they sort and compare without parsing
      // and match Date.now(). STRICT makes SQLite reject a value of the wrong type instead
      // of silently storing it.
      db.exec(`
        CREATE TABLE sandboxes (
          id           TEXT PRIMARY KEY NOT NULL,
          name         TEXT NOT NULL UNIQUE,
          template     TEXT NOT NULL,
          hypervisor   TEXT NOT NULL,
          vcpus        INTEGER NOT NULL CHECK (vcpus > 0),
          memory_mib   INTEGER NOT NULL CHECK (memory_mib > 0),
          labels       TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(labels)),
          state        TEXT NOT NULL CHECK (state IN
                         ('creating', 'running', 'paused', 'stopping', 'stopped', 'crashed', 'error')),
          state_reason TEXT,
          handle       TEXT CHECK (handle IS NULL OR json_valid(handle)),
          created_at   INTEGER NOT NULL,
          updated_at   INTEGER NOT NULL
        ) STRICT;

        CREATE TABLE sandbox_events (
          id         INTEGER PRIMARY KEY AUTOINCREMENT,
          sandbox_id TEXT NOT NULL REFERENCES sandboxes(id) ON DELETE CASCADE,
          at         INTEGER NOT NULL,
          kind       TEXT NOT NULL,
          data       TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(data))
        ) STRICT;

        CREATE INDEX sandbox_events_by_sandbox ON sandbox_events (sandbox_id, id);
      `);
    },
  },
  {
    version: 2,
    description: 'snapshots: a tree per sandbox, and each sandbox\'s position in it',
    up(db) {
      // files: [{name, size, sha256}] of the saved state, checked before every restore.
      // parent_id is the snapshot the state descends from, possibly another sandbox's
      // (a fork); deleting a snapshot re-parents its children in the same transaction.
      db.exec(`
        CREATE TABLE snapshots (
          id           TEXT PRIMARY KEY NOT NULL,
          sandbox_id   TEXT NOT NULL REFERENCES sandboxes(id) ON DELETE CASCADE,
          parent_id    TEXT REFERENCES snapshots(id) ON DELETE SET NULL,
          name         TEXT NOT NULL,
          description  TEXT NOT NULL DEFAULT '',
          created_at   INTEGER NOT NULL,
          hypervisor   TEXT NOT NULL,
          vmm_version  TEXT NOT NULL,
          template     TEXT NOT NULL,
          vcpus        INTEGER NOT NULL CHECK (vcpus > 0),
          memory_mib   INTEGER NOT NULL CHECK (memory_mib > 0),
          boot         TEXT NOT NULL CHECK (json_valid(boot)),
          state_bytes  INTEGER NOT NULL CHECK (state_bytes >= 0),
          disk_bytes   INTEGER NOT NULL DEFAULT 0 CHECK (disk_bytes >= 0),
          pause_ms     REAL NOT NULL CHECK (pause_ms >= 0),
          files        TEXT NOT NULL CHECK (json_valid(files)),
          thumbnail    TEXT,
          UNIQUE (sandbox_id, name)
        ) STRICT;

        CREATE INDEX snapshots_by_sandbox ON snapshots (sandbox_id, created_at);
        CREATE INDEX snapshots_by_parent ON snapshots (parent_id);

        ALTER TABLE sandboxes ADD COLUMN current_snapshot_id TEXT REFERENCES snapshots(id) ON DELETE SET NULL;
      `);
    },
  },
  {
    version: 3,
    description: 'the size of a sandbox\'s copy-on-write disk (rootfs templates)',
    up(db) {
      // NULL: the sandbox boots from an initramfs only and has no disk.
      db.exec(`
        ALTER TABLE sandboxes ADD COLUMN disk_mib INTEGER CHECK (disk_mib IS NULL OR disk_mib > 0);
      `);
    },
  },
  {
    version: 4,
    description: 'networking: each sandbox\'s network mode and egress policy, and the addresses leased on the bridge',
    up(db) {
      // egress: {"allow": [CIDR…], "deny": [CIDR…]}. A lease belongs to one sandbox and
      // goes with it; an address is unique within its subnet (the subnet is kept so a
      // lease made under an earlier configured subnet is recognised as stale).
      db.exec(`
        ALTER TABLE sandboxes ADD COLUMN network TEXT NOT NULL DEFAULT 'none' CHECK (network IN ('none', 'nat'));
        ALTER TABLE sandboxes ADD COLUMN egress TEXT NOT NULL DEFAULT '{"allow":[],"deny":[]}' CHECK (json_valid(egress));

        CREATE TABLE network_leases (
          sandbox_id TEXT PRIMARY KEY NOT NULL REFERENCES sandboxes(id) ON DELETE CASCADE,
          subnet     TEXT NOT NULL,
          address    TEXT NOT NULL,
          created_at INTEGER NOT NULL,
          UNIQUE (subnet, address)
        ) STRICT;
      `);
    },
  },
];

function latestVersion(migrations: readonly Migration[]): number {
  return migrations.at(-1)?.version ?? 0;
}

/** The highest migration recorded in the database; 0 for a new, empty database. Reads only. */
export function schemaVersion(db: Database): number {
  const table = db
    .prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'")
    .get();
  if (!table) return 0;
  const row = db.prepare('SELECT MAX(version) AS version FROM schema_migrations').get() as {
    version: number | null;
  };
  return row.version ?? 0;
}

/**
 * Brings the database up to the newest schema this code knows, one transaction per
 * migration so a crash leaves it at a clean earlier version. A database written by a newer
 * release is refused before anything is written to it: this code cannot know what the
 * newer columns mean, and "fixing" them would destroy the user's data.
 */
export function applyMigrations(db: Database, migrations: readonly Migration[] = MIGRATIONS): void {
  const known = latestVersion(migrations);
  const found = schemaVersion(db);
  if (found > known) {
    throw new SandboxError(
      'store_too_new',
      `The database ${db.name} has schema version ${found}, but this version of MicroVM Sandbox ` +
        `only knows up to version ${known}. Upgrade MicroVM Sandbox, or set MICROVM_DATA_DIR ` +
        `to use a different data directory.`,
      { path: db.name, found, known },
    );
  }
  if (found === known) return;

  db.exec(`
    CREATE TABLE IF NOT EXISTS schema_migrations (
      version     INTEGER PRIMARY KEY NOT NULL,
      description TEXT NOT NULL,
      applied_at  INTEGER NOT NULL
    ) STRICT
  `);
  const record = db.prepare('INSERT INTO schema_migrations (version, description, applied_at) VALUES (?, ?, ?)');
  for (const migration of migrations) {
    // IMMEDIATE takes the write lock before re-reading the version, so two processes
    // opening the same new database cannot both apply a migration.
    db.transaction(() => {
      if (schemaVersion(db) >= migration.version) return;
      migration.up(db);
      record.run(migration.version, migration.description, Date.now());
    }).immediate();
  }
}

import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import Database from 'better-sqlite3';
import { SandboxError } from '../errors/sandbox-error.js';
import type { HypervisorKind, VmHandle } from '../hypervisor/hypervisor-driver.js';
import { appPaths } from '../paths/app-paths.js';
import type { Egress, NetworkMode } from '../network/network-mode.js';
import { LeaseStore } from './lease-store.js';
import { applyMigrations } from './migrations.js';
import { SnapshotStore } from './snapshot-store.js';
import type { SandboxState } from '../../../shared/api/sandbox-schemas.js';

export { SANDBOX_STATES, type SandboxState } from '../../../shared/api/sandbox-schemas.js';

/** A sandbox as stored. Timestamps are unix milliseconds. */
export interface SandboxRecord {
  id: string;
  name: string;
  template: string;
  hypervisor: HypervisorKind;
  vcpus: number;
  memoryMiB: number;
  /** Size of the sandbox's copy-on-write disk; null when its template has none (an initramfs only). */
  diskMiB: number | null;
  labels: Record<string, string>;
  network: NetworkMode;
  /** Enforced on the host for a `nat` sandbox; empty lists for `none`. */
  egress: Egress;
  state: SandboxState;
  /** Why the sandbox entered its current state (e.g. the last serial lines after a crash). */
  stateReason: string | null;
  /** Set while a VMM process exists for the sandbox; what reconciliation checks after a restart. */
  handle: VmHandle | null;
  /** The snapshot the current state descends from: its position in the snapshot tree. */
  currentSnapshotId: string | null;
  createdAt: number;
  updatedAt: number;
}

export interface NewSandbox {
  id: string;
  name: string;
  template: string;
  hypervisor: HypervisorKind;
  vcpus: number;
  memoryMiB: number;
  diskMiB?: number | null;
  labels?: Record<string, string>;
  network?: NetworkMode;
  egress?: Egress;
  /** Defaults to 'creating'': a sandbox is recorded before its VM exists, so a crash mid-create leaves a trace. */
  state?: SandboxState;
}

export interface Transition {
  /** The states the sandbox may be in for the transition to happen; omitted means any. */
  from?: readonly SandboxState[];
  to: SandboxState;
  /** Describes the new state; omitted clears the previous state's reason. */
  reason?: string;
  /** A handle to store, null to clear it, omitted to keep the stored one. */
  handle?: VmHandle | null;
}

export type SandboxEventBody =
  | { kind: 'created'; data: { state: SandboxState } }
  | { kind: 'transition'; data: { from: SandboxState; to: SandboxState; reason: string | null } };

export type SandboxEvent = { id: number; sandboxId: string; at: number } & SandboxEventBody;

interface SandboxRow {
  id: string;
  name: string;
  template: string;
  hypervisor: string;
  vcpus: number;
  memory_mib: number;
  disk_mib: number | null;
  labels: string;
  network: string;
  egress: string;
  state: string;
  state_reason: string | null;
  handle: string | null;
  created_at: number;
  updated_at: number;
  current_snapshot_id?: string | null;
}

interface EventRow {
  id: number;
  sandbox_id: string;
  at: number;
  kind: string;
  data: string;
}

export function defaultStorePath(env: NodeJS.ProcessEnv = process.env): string {
  return join(appPaths(env).data, 'microvm.db');
}

function toRecord(row: SandboxRow): SandboxRecord {
  return {
    id: row.id,
    name: row.name,
    template: row.template,
    hypervisor: row.hypervisor as HypervisorKind,
    vcpus: row.vcpus,
    memoryMiB: row.memory_mib,
    diskMiB: row.disk_mib ?? null,
    labels: JSON.parse(row.labels) as Record<string, string>,
    network: row.network as NetworkMode,
    egress: JSON.parse(row.egress) as Egress,
    state: row.state as SandboxState,
    stateReason: row.state_reason,
    handle: row.handle === null ? null : (JSON.parse(row.handle) as VmHandle),
    currentSnapshotId: row.current_snapshot_id ?? null,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

function toEvent(row: EventRow): SandboxEvent {
  return { id: row.id, sandboxId: row.sandbox_id, at: row.at, kind: row.kind, data: JSON.parse(row.data) } as SandboxEvent;
}

function isSqliteError(err: unknown): err is Error & { code: string } {
  return err instanceof Database.SqliteError;
}

/**
 * The sandboxes the daemon manages, in one SQLite file. The daemon may be killed at any
 * moment, so every method is a single transaction and a committed write is on disk before
 * the method returns.
 */
export class SandboxStore {
  readonly snapshots: SnapshotStore;
  readonly leases: LeaseStore;

  private constructor(private readonly db: Database.Database) {
    this.snapshots = new SnapshotStore(db);
    this.leases = new LeaseStore(db);
  }

  static open(path: string): SandboxStore {
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    const db = new Database(path);
    try {
      // Several processes (daemon, CLI) may open the file; wait for a writer rather than fail.
      db.pragma('busy_timeout = 5000');
      db.pragma('foreign_keys = ON');
      // With WAL, NORMAL already survives a killed process, but a power loss can undo the
      // last commits. FULL fsyncs the WAL on every commit, so a state the manager has
      // reported is never forgotten; sandboxes change state a few times in their life, so
      // the fsync costs nothing that matters.
      db.pragma('synchronous = FULL');
      // Migrations run (and a too-new database is refused) before switching to WAL,
      // because journal_mode is written into the file and a refused database must stay untouched.
      applyMigrations(db);
      const mode = db.pragma('journal_mode = WAL', { simple: true });
      if (mode !== 'wal') {
        throw new SandboxError('store_unavailable', `${path} cannot use write-ahead logging (journal mode stayed "${String(mode)}"); put the data directory on a local filesystem.`);
      }
    } catch (err) {
      db.close();
      if (isSqliteError(err) && (err.code === 'SQLITE_NOTADB' || err.code.startsWith('SQLITE_CORRUPT'))) {
        throw new SandboxError('store_unreadable', `${path} is not a readable MicroVM Sandbox database: ${err.message}`, { path });
      }
      throw err;
    }
    return new SandboxStore(db);
  }

  close(): void {
    this.db.close();
  }

  insert(sandbox: NewSandbox): SandboxRecord {
    const now = Date.now();
    const state = sandbox.state ?? 'creating';
    const row: SandboxRow = {
      id: sandbox.id,
      name: sandbox.name,
      template: sandbox.template,
      hypervisor: sandbox.hypervisor,
      vcpus: sandbox.vcpus,
      memory_mib: sandbox.memoryMiB,
      disk_mib: sandbox.diskMiB ?? null,
      labels: JSON.stringify(sandbox.labels ?? {}),
      network: sandbox.network ?? 'none',
      egress: JSON.stringify(sandbox.egress ?? { allow: [], deny: [] }),
      state,
      state_reason: null,
      handle: null,
      created_at: now,
      updated_at: now,
    };
    try {
      this.db.transaction(() => {
        this.db
          .prepare(
            `INSERT INTO sandboxes (id, name, template, hypervisor, vcpus, memory_mib, disk_mib, labels, network, egress,
               state, state_reason, handle, created_at, updated_at)
             VALUES (@id, @name, @template, @hypervisor, @vcpus, @memory_mib, @disk_mib, @labels, @network, @egress,
               @state, @state_reason, @handle, @created_at, @updated_at)`,
          )
          .run(row);
        this.appendEvent(sandbox.id, now, { kind: 'created', data: { state } });
      }).immediate();
    } catch (err) {
      if (isSqliteError(err) && err.code === 'SQLITE_CONSTRAINT_UNIQUE' && err.message.includes('sandboxes.name')) {
        throw new SandboxError('already_exists', `A sandbox named "${sandbox.name}" already exists.`, { name: sandbox.name });
      }
      if (isSqliteError(err) && err.code === 'SQLITE_CONSTRAINT_PRIMARYKEY') {
        throw new SandboxError('already_exists', `A sandbox with id "${sandbox.id}" already exists.`, { id: sandbox.id });
      }
      throw err;
    }
    return toRecord(row);
  }

  get(id: string): SandboxRecord | undefined {
    const row = this.db.prepare('SELECT * FROM sandboxes WHERE id = ?').get(id) as SandboxRow | undefined;
    return row && toRecord(row);
  }

  getByName(name: string): SandboxRecord | undefined {
    const row = this.db.prepare('SELECT * FROM sandboxes WHERE name = ?').get(name) as SandboxRow | undefined;
    return row && toRecord(row);
  }

  /** Oldest first. */
  list(): SandboxRecord[] {
    const rows = this.db.prepare('SELECT * FROM sandboxes ORDER BY created_at, id').all() as SandboxRow[];
    return rows.map(toRecord);
  }

  /** The sandboxes a VMM process was started for: after a restart, each must be found alive or marked dead. */
  withHandles(): SandboxRecord[] {
    const rows = this.db
      .prepare('SELECT * FROM sandboxes WHERE handle IS NOT NULL ORDER BY created_at, id')
      .all() as SandboxRow[];
    return rows.map(toRecord);
  }

  /**
   * Moves a sandbox to a new state and records the move, atomically: the state is checked
   * and changed under the write lock, so two callers racing on one sandbox cannot both win.
   */
  transition(id: string, change: Transition): SandboxRecord {
    return this.db.transaction(() => {
      const current = this.get(id);
      if (!current) throw new SandboxError('not_found', `No sandbox with id "${id}".`, { id });
      if (change.from && !change.from.includes(current.state)) {
        throw new SandboxError(
          'invalid_state',
          `Sandbox "${current.name}" is ${current.state}; it cannot become ${change.to} ` +
            `(only from ${change.from.join(' or ')}).`,
          { id, state: current.state, attempted: change.to },
        );
      }
      const now = Date.now();
      const reason = change.reason ?? null;
      const handle = change.handle === undefined ? current.handle : change.handle;
      this.db
        .prepare('UPDATE sandboxes SET state = ?, state_reason = ?, handle = ?, updated_at = ? WHERE id = ?')
        .run(change.to, reason, handle === null ? null : JSON.stringify(handle), now, id);
      this.appendEvent(id, now, { kind: 'transition', data: { from: current.state, to: change.to, reason } });
      return { ...current, state: change.to, stateReason: reason, handle, updatedAt: now };
    }).immediate();
  }

  /**
   * Changes a sandbox's network settings while it is in one of `states` (checked under
   * the write lock). Leaving `nat` releases its lease.
   */
  setNetwork(id: string, settings: { network: NetworkMode; egress: Egress }, states: readonly SandboxState[]): SandboxRecord {
    return this.db.transaction(() => {
      const current = this.get(id);
      if (!current) throw new SandboxError('not_found', `No sandbox with id "${id}".`, { id });
      if (!states.includes(current.state)) {
        throw new SandboxError(
          'invalid_state',
          `cannot change the network of sandbox "${current.name}": it is ${current.state}; stop it first`,
          { id, state: current.state },
        );
      }
      const now = Date.now();
      this.db
        .prepare('UPDATE sandboxes SET network = ?, egress = ?, updated_at = ? WHERE id = ?')
        .run(settings.network, JSON.stringify(settings.egress), now, id);
      if (settings.network === 'none') this.leases.release(id);
      return { ...current, network: settings.network, egress: settings.egress, updatedAt: now };
    }).immediate();
  }

  /** Removes the sandbox and its events; false when there was none. */
  delete(id: string): boolean {
    return this.db.prepare('DELETE FROM sandboxes WHERE id = ?').run(id).changes > 0;
  }

  /** The sandbox's audit trail, oldest first. */
  events(id: string): SandboxEvent[] {
    const rows = this.db
      .prepare('SELECT * FROM sandbox_events WHERE sandbox_id = ? ORDER BY id')
      .all(id) as EventRow[];
    return rows.map(toEvent);
  }

  private appendEvent(sandboxId: string, at: number, event: SandboxEventBody): void {
    this.db
      .prepare('INSERT INTO sandbox_events (sandbox_id, at, kind, data) VALUES (?, ?, ?, ?)')
      .run(sandboxId, at, event.kind, JSON.stringify(event.data));
  }
}

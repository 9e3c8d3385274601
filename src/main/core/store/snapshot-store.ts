import type { Database } from 'better-sqlite3';
import { SandboxError } from '../errors/sandbox-error.js';
import type { HypervisorKind, VmStateFile } from '../hypervisor/hypervisor-driver.js';
import type { GuestNetwork } from '../network/sandbox-network.js';

export interface SnapshotBoot {
  kernel: string;
  initrd: string;
  cmdline: string;
  /** Size of the disk captured with the state (the snapshot's disk.qcow2); absent when the guest had none. */
  diskMiB?: number;
  /**
   * The guest's NIC as it was configured when the state was saved; absent when it had
   * none. A restore recreates the device (the state needs it) and moves the guest to
   * the sandbox's own address when it differs.
   */
  network?: GuestNetwork;
}

/** A saved state of a sandbox, as stored. Timestamps are unix milliseconds. */
export interface SnapshotRecord {
  id: string;
  sandboxId: string;
  /** The snapshot this state descends from (possibly another sandbox's, for a fork). */
  parentId: string | null;
  name: string;
  description: string;
  createdAt: number;
  hypervisor: HypervisorKind;
  vmmVersion: string;
  /** The machine the state belongs to: a restore or fork recreates exactly this. */
  template: string;
  vcpus: number;
  memoryMiB: number;
  /** The kernel, initramfs and command line the guest was booted with: the VMM is started with them again to receive the state. */
  boot: SnapshotBoot;
  /** Bytes on disk of the saved memory and device state. */
  stateBytes: number;
  /** Bytes of the disk overlay copied with the state (disk.qcow2); 0 without a disk. */
  diskBytes: number;
  pauseMs: number;
  files: VmStateFile[];
  /** File name of a PNG screenshot in the snapshot's directory, for sandboxes with a display. */
  thumbnail: string | null;
}

interface SnapshotRow {
  id: string;
  sandbox_id: string;
  parent_id: string | null;
  name: string;
  description: string;
  created_at: number;
  hypervisor: string;
  vmm_version: string;
  template: string;
  vcpus: number;
  memory_mib: number;
  boot: string;
  state_bytes: number;
  disk_bytes: number;
  pause_ms: number;
  files: string;
  thumbnail: string | null;
}

/**
 * The snapshot tree in the sandbox database. Each change is one transaction: a snapshot is
 * registered together with the sandbox's new position, and a deletion re-parents the
 * children and moves any sandbox positioned on it in the same step, so the tree is never
 * seen broken.
 */
export class SnapshotStore {
  constructor(private readonly db: Database) {}

  /** Registers a complete snapshot and makes it the sandbox's current position. */
  insert(snapshot: SnapshotRecord): SnapshotRecord {
    const row: SnapshotRow = {
      id: snapshot.id,
      sandbox_id: snapshot.sandboxId,
      parent_id: snapshot.parentId,
      name: snapshot.name,
      description: snapshot.description,
      created_at: snapshot.createdAt,
      hypervisor: snapshot.hypervisor,
      vmm_version: snapshot.vmmVersion,
      template: snapshot.template,
      vcpus: snapshot.vcpus,
      memory_mib: snapshot.memoryMiB,
      boot: JSON.stringify(snapshot.boot),
      state_bytes: snapshot.stateBytes,
      disk_bytes: snapshot.diskBytes,
      pause_ms: snapshot.pauseMs,
      files: JSON.stringify(snapshot.files),
      thumbnail: snapshot.thumbnail,
    };
    try {
      this.db.transaction(() => {
        this.db
          .prepare(
            `INSERT INTO snapshots (id, sandbox_id, parent_id, name, description, created_at, hypervisor, vmm_version,
               template, vcpus, memory_mib, boot, state_bytes, disk_bytes, pause_ms, files, thumbnail)
             VALUES (@id, @sandbox_id, @parent_id, @name, @description, @created_at, @hypervisor, @vmm_version,
               @template, @vcpus, @memory_mib, @boot, @state_bytes, @disk_bytes, @pause_ms, @files, @thumbnail)`,
          )
          .run(row);
        this.setCurrent(snapshot.sandboxId, snapshot.id);
      }).immediate();
    } catch (err) {
      if ((err as { code?: string }).code === 'SQLITE_CONSTRAINT_UNIQUE') {
        throw new SandboxError('already_exists', `name: this sandbox already has a snapshot named "${snapshot.name}"`, { field: 'name' });
      }
      throw err;
    }
    return snapshot;
  }

  get(id: string): SnapshotRecord | undefined {
    const row = this.db.prepare('SELECT * FROM snapshots WHERE id = ?').get(id) as SnapshotRow | undefined;
    return row && toSnapshot(row);
  }

  /** A sandbox's snapshots, oldest first. */
  ofSandbox(sandboxId: string): SnapshotRecord[] {
    const rows = this.db.prepare('SELECT * FROM snapshots WHERE sandbox_id = ? ORDER BY created_at, id').all(sandboxId) as SnapshotRow[];
    return rows.map(toSnapshot);
  }

  all(): SnapshotRecord[] {
    return (this.db.prepare('SELECT * FROM snapshots ORDER BY created_at, id').all() as SnapshotRow[]).map(toSnapshot);
  }

  /** The snapshot a sandbox's current state descends from, or null before its first snapshot. */
  current(sandboxId: string): string | null {
    const row = this.db.prepare('SELECT current_snapshot_id AS id FROM sandboxes WHERE id = ?').get(sandboxId) as { id: string | null } | undefined;
    return row?.id ?? null;
  }

  setCurrent(sandboxId: string, snapshotId: string | null): void {
    this.db.prepare('UPDATE sandboxes SET current_snapshot_id = ? WHERE id = ?').run(snapshotId, sandboxId);
  }

  /** The chain from a snapshot up to its root, the snapshot itself first. */
  lineage(snapshotId: string | null): SnapshotRecord[] {
    const chain: SnapshotRecord[] = [];
    for (let id = snapshotId; id !== null; ) {
      const snapshot = this.get(id);
      if (!snapshot) break;
      chain.push(snapshot);
      id = snapshot.parentId;
    }
    return chain;
  }

  /**
   * Removes a snapshot's row. Its children take its parent, and sandboxes positioned on
   * it move to its parent: every saved state is complete on its own, so nothing that
   * descends from it loses anything.
   */
  delete(id: string): void {
    this.db.transaction(() => {
      const snapshot = this.get(id);
      if (!snapshot) throw new SandboxError('not_found', `no snapshot with id "${id}"`);
      this.db.prepare('UPDATE snapshots SET parent_id = ? WHERE parent_id = ?').run(snapshot.parentId, id);
      this.db.prepare('UPDATE sandboxes SET current_snapshot_id = ? WHERE current_snapshot_id = ?').run(snapshot.parentId, id);
      this.db.prepare('DELETE FROM snapshots WHERE id = ?').run(id);
    }).immediate();
  }
}

function toSnapshot(row: SnapshotRow): SnapshotRecord {
  return {
    id: row.id,
    sandboxId: row.sandbox_id,
    parentId: row.parent_id,
    name: row.name,
    description: row.description,
    createdAt: row.created_at,
    hypervisor: row.hypervisor as HypervisorKind,
    vmmVersion: row.vmm_version,
    template: row.template,
    vcpus: row.vcpus,
    memoryMiB: row.memory_mib,
    boot: JSON.parse(row.boot) as SnapshotBoot,
    stateBytes: row.state_bytes,
    diskBytes: row.disk_bytes,
    pauseMs: row.pause_ms,
    files: JSON.parse(row.files) as VmStateFile[],
    thumbnail: row.thumbnail,
  };
}

import type { Database } from 'better-sqlite3';

/** An address on the bridge held by one sandbox. */
export interface Lease {
  sandboxId: string;
  /** The configured subnet it was leased from, e.g. 10.213.0.0/24. */
  subnet: string;
  address: string;
  createdAt: number;
}

interface LeaseRow {
  sandbox_id: string;
  subnet: string;
  address: string;
  created_at: number;
}

function toLease(row: LeaseRow): Lease {
  return { sandboxId: row.sandbox_id, subnet: row.subnet, address: row.address, createdAt: row.created_at };
}

/**
 * The bridge addresses leased to `nat` sandboxes. A lease lives as long as its sandbox
 * (deleted with it by the foreign key), so a restarted daemon, a stopped and started
 * sandbox and a restored snapshot keep the same address.
 */
export class LeaseStore {
  constructor(private readonly db: Database) {}

  get(sandboxId: string): Lease | undefined {
    const row = this.db.prepare('SELECT * FROM network_leases WHERE sandbox_id = ?').get(sandboxId) as LeaseRow | undefined;
    return row && toLease(row);
  }

  /**
   * The sandbox's lease in `subnet`, made with the first address `pick` offers that no
   * other sandbox holds; a lease from another subnet is replaced. Null when `pick`
   * finds nothing free. One transaction, so two sandboxes never get the same address.
   */
  lease(sandboxId: string, subnet: string, pick: (taken: ReadonlySet<string>) => string | null): Lease | null {
    return this.db.transaction(() => {
      const existing = this.get(sandboxId);
      if (existing?.subnet === subnet) return existing;
      const taken = new Set(
        (this.db.prepare('SELECT address FROM network_leases WHERE subnet = ? AND sandbox_id != ?').all(subnet, sandboxId) as { address: string }[]).map((r) => r.address),
      );
      const address = pick(taken);
      if (address === null) return null;
      const row: LeaseRow = { sandbox_id: sandboxId, subnet, address, created_at: Date.now() };
      this.db
        .prepare(
          `INSERT INTO network_leases (sandbox_id, subnet, address, created_at) VALUES (@sandbox_id, @subnet, @address, @created_at)
           ON CONFLICT (sandbox_id) DO UPDATE SET subnet = excluded.subnet, address = excluded.address, created_at = excluded.created_at`,
        )
        .run(row);
      return toLease(row);
    }).immediate();
  }

  release(sandboxId: string): void {
    this.db.prepare('DELETE FROM network_leases WHERE sandbox_id = ?').run(sandboxId);
  }

  all(): Lease[] {
    return (this.db.prepare('SELECT * FROM network_leases ORDER BY created_at, sandbox_id').all() as LeaseRow[]).map(toLease);
  }
}

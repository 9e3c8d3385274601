import type { SnapshotRecord } from '../store/snapshot-store.js';

export interface RetentionLimits {
  keepPerSandbox: number;
  /** 0: no cap. */
  maxTotalMiB: number;
}

export interface RetentionPlan {
  /** Oldest first. */
  victims: SnapshotRecord[];
  /** Set when the limits could only be met by deleting an ancestor of some sandbox's current state, which is never done. */
  note: string | null;
}

/**
 * Which snapshots to delete after `sandboxId` took a new one: its oldest beyond the
 * per-sandbox count, then the oldest of all while the total is over the cap. Snapshots in
 * `protectedIds` (ancestors of a current state) are kept even over the limits.
 */
export function planRetention(all: readonly SnapshotRecord[], sandboxId: string, protectedIds: ReadonlySet<string>, limits: RetentionLimits): RetentionPlan {
  const victims = new Map<string, SnapshotRecord>();
  const notes: string[] = [];
  const deletable = (s: SnapshotRecord) => !protectedIds.has(s.id) && !victims.has(s.id);

  const own = all.filter((s) => s.sandboxId === sandboxId);
  let excess = own.length - limits.keepPerSandbox;
  for (const snapshot of own) {
    if (excess <= 0) break;
    if (!deletable(snapshot)) continue;
    victims.set(snapshot.id, snapshot);
    excess -= 1;
  }
  if (excess > 0) notes.push(`${excess} over snapshots.keepPerSandbox (${limits.keepPerSandbox}) kept: they are ancestors of the current state`);

  if (limits.maxTotalMiB > 0) {
    const cap = limits.maxTotalMiB * 1024 * 1024;
    let total = all.reduce((sum, s) => sum + s.stateBytes + s.diskBytes, 0) - [...victims.values()].reduce((sum, s) => sum + s.stateBytes + s.diskBytes, 0);
    for (const snapshot of all) {
      if (total <= cap) break;
      if (!deletable(snapshot)) continue;
      victims.set(snapshot.id, snapshot);
      total -= snapshot.stateBytes + snapshot.diskBytes;
    }
    if (total > cap) notes.push(`snapshots total ${Math.round(total / 1024 / 1024)} MiB, over snapshots.maxTotalMiB (${limits.maxTotalMiB}): the rest are ancestors of current states`);
  }
  const ordered = all.filter((s) => victims.has(s.id));
  return { victims: ordered, note: notes.length > 0 ? notes.join('; ') : null };
}

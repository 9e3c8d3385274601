import type { Snapshot } from '../../../shared/api/snapshot-schemas';

export interface SnapshotNode {
  snapshot: Snapshot;
  children: SnapshotNode[];
}

/**
 * Nests snapshots by parentId, keeping their order (oldest first). A snapshot whose
 * parent is not in the list (a fork's first, whose parent belongs to another sandbox) is a root.
 */
export function snapshotForest(snapshots: Snapshot[]): SnapshotNode[] {
  const nodes = new Map(snapshots.map((snapshot) => [snapshot.id, { snapshot, children: [] as SnapshotNode[] }]));
  const roots: SnapshotNode[] = [];
  for (const node of nodes.values()) {
    const parent = node.snapshot.parentId === null ? undefined : nodes.get(node.snapshot.parentId);
    (parent ? parent.children : roots).push(node);
  }
  return roots;
}

import type { Snapshot } from '../../shared/api/snapshot-schemas.js';
import type { SnapshotRecord } from '../core/store/snapshot-store.js';

/** A stored snapshot as the API shows it: no boot file paths, the current position marked. */
export function snapshotView(snapshot: SnapshotRecord, current: string | null): Snapshot {
  return {
    id: snapshot.id,
    sandboxId: snapshot.sandboxId,
    parentId: snapshot.parentId,
    name: snapshot.name,
    description: snapshot.description,
    createdAt: new Date(snapshot.createdAt).toISOString(),
    hypervisor: snapshot.hypervisor,
    vmmVersion: snapshot.vmmVersion,
    template: snapshot.template,
    vcpus: snapshot.vcpus,
    memoryMiB: snapshot.memoryMiB,
    stateBytes: snapshot.stateBytes,
    diskBytes: snapshot.diskBytes,
    pauseMs: snapshot.pauseMs,
    files: snapshot.files,
    thumbnail: snapshot.thumbnail,
    current: snapshot.id === current,
  };
}

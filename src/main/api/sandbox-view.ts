import type { Sandbox } from '../../shared/api/sandbox-schemas.js';
import type { SandboxRecord } from '../core/store/sandbox-store.js';

/** A stored sandbox as the API shows it: no VMM handle, so no host paths or pids. */
export function sandboxView(record: SandboxRecord): Sandbox {
  return {
    id: record.id,
    name: record.name,
    template: record.template,
    hypervisor: record.hypervisor,
    vcpus: record.vcpus,
    memoryMiB: record.memoryMiB,
    ...(record.diskMiB === null ? {} : { diskMiB: record.diskMiB }),
    labels: record.labels,
    network: record.network,
    egress: record.egress,
    state: record.state,
    stateReason: record.stateReason,
    currentSnapshotId: record.currentSnapshotId,
    createdAt: new Date(record.createdAt).toISOString(),
    updatedAt: new Date(record.updatedAt).toISOString(),
  };
}

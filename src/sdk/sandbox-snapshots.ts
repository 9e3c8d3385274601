import type { Sandbox as SandboxInfo } from '../shared/api/sandbox-schemas.js';
import type { CreateSnapshotBody, ForkBody, ForkResult, Snapshot, SnapshotTree, TakenSnapshot } from '../shared/api/snapshot-schemas.js';
import type { MicrovmClient } from './microvm-client.js';

/**
 * A sandbox's snapshot tree: take, list, restore (backtrack), fork and delete. Snapshots
 * are addressed by id; `restore` and `fork` also accept the Snapshot object itself.
 */
export class SandboxSnapshots {
  constructor(
    private readonly client: MicrovmClient,
    private readonly sandboxId: () => string,
    private readonly adopt: (info: SandboxInfo) => void,
  ) {}

  /** Captures memory, devices and disks; the guest pauses only for the capture. */
  create(options: CreateSnapshotBody = {}): Promise<TakenSnapshot> {
    return this.client.request<TakenSnapshot>('POST', `/sandboxes/${encodeURIComponent(this.sandboxId())}/snapshots`, { json: options });
  }

  /** The whole tree, oldest first, with `current` marking where the sandbox is. */
  tree(): Promise<SnapshotTree> {
    return this.client.request<SnapshotTree>('GET', `/sandboxes/${encodeURIComponent(this.sandboxId())}/snapshots`);
  }

  async list(): Promise<Snapshot[]> {
    return (await this.tree()).snapshots;
  }

  /** Backtracks the sandbox to the snapshot: files, processes and memory as they were. */
  async restore(snapshot: string | Snapshot): Promise<SandboxInfo> {
    const info = await this.client.request<SandboxInfo>('POST', `/snapshots/${encodeURIComponent(idOf(snapshot))}/restore`);
    this.adopt(info);
    return info;
  }

  /** New sandboxes from the snapshot, beside this one. */
  async fork(snapshot: string | Snapshot, options: ForkBody = {}): Promise<SandboxInfo[]> {
    return (await this.client.request<ForkResult>('POST', `/snapshots/${encodeURIComponent(idOf(snapshot))}/fork`, { json: options })).sandboxes;
  }

  /** Deletes a snapshot; its children stay restorable. */
  async delete(snapshot: string | Snapshot): Promise<void> {
    await this.client.request('DELETE', `/snapshots/${encodeURIComponent(idOf(snapshot))}`);
  }
}

function idOf(snapshot: string | Snapshot): string {
  return typeof snapshot === 'string' ? snapshot : snapshot.id;
}

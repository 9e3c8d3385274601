import type { Sandbox } from '../../../shared/api/sandbox-schemas';
import type { ForkResult, Snapshot, SnapshotTree, TakenSnapshot } from '../../../shared/api/snapshot-schemas';
import { AppError } from '../../../shared/app-contract';
import { segment, type DaemonHttp } from './daemon-http';

/**
 * Snapshot calls. The daemon addresses a snapshot by its id alone and restores or deletes
 * it in whichever sandbox it belongs to; the contract names the sandbox too, so a
 * snapshot of another sandbox (a fork's ancestor, a stale view) is refused here rather
 * than rewinding a sandbox the user is not looking at.
 */
export class SnapshotCalls {
  constructor(private readonly http: DaemonHttp) {}

  tree(id: string): Promise<SnapshotTree> {
    return this.http.request('GET', `/sandboxes/${segment(id)}/snapshots`);
  }

  async take(id: string, name?: string): Promise<Snapshot> {
    const taken = await this.http.request<TakenSnapshot>('POST', `/sandboxes/${segment(id)}/snapshots`, { json: name === undefined ? {} : { name } });
    return taken.snapshot;
  }

  async restore(id: string, snapshotId: string): Promise<Sandbox> {
    await this.ensureOwned(id, snapshotId, 'restore');
    return this.http.request('POST', `/snapshots/${segment(snapshotId)}/restore`);
  }

  /** Forking from any snapshot in the tree is fine, an ancestor in another sandbox included. */
  async fork(_id: string, snapshotId: string, name?: string): Promise<Sandbox> {
    const forked = await this.http.request<ForkResult>('POST', `/snapshots/${segment(snapshotId)}/fork`, { json: name === undefined ? {} : { names: [name] } });
    const sandbox = forked.sandboxes[0];
    if (!sandbox) throw new AppError('internal', `fork of snapshot ${snapshotId}: the daemon answered without a sandbox`);
    return sandbox;
  }

  async delete(id: string, snapshotId: string): Promise<void> {
    await this.ensureOwned(id, snapshotId, 'delete');
    await this.http.request('DELETE', `/snapshots/${segment(snapshotId)}`);
  }

  private async ensureOwned(id: string, snapshotId: string, action: string): Promise<void> {
    const snapshot = await this.http.request<Snapshot>('GET', `/snapshots/${segment(snapshotId)}`);
    if (snapshot.sandboxId === id) return;
    // id may be the sandbox's name.
    const sandbox = await this.http.request<Sandbox>('GET', `/sandboxes/${segment(id)}`);
    if (snapshot.sandboxId !== sandbox.id) {
      throw new AppError('invalid_argument', `${action}: snapshot ${snapshot.name} (${snapshotId}) belongs to another sandbox, not to ${sandbox.name}`);
    }
  }
}

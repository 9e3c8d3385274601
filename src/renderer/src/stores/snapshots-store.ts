import { createStore } from 'zustand/vanilla';
import type { SandboxEvent } from '../../../shared/api/event-schemas';
import type { SnapshotTree } from '../../../shared/api/snapshot-schemas';
import { AppError, type AppApi } from '../../../shared/app-contract';

/** The last snapshot operation of a sandbox, shown where it was started. */
export interface SnapshotActivity {
  tone: 'working' | 'done' | 'failed';
  message: string;
}

export interface SandboxSnapshots {
  tree: SnapshotTree | null;
  loadError: string | null;
  activity: SnapshotActivity | null;
}

export interface SnapshotsState {
  bySandbox: Record<string, SandboxSnapshots>;
  load(sandboxId: string): Promise<void>;
  take(sandboxId: string, name?: string): Promise<void>;
  restore(sandboxId: string, snapshotId: string, snapshotName: string): Promise<void>;
  fork(sandboxId: string, snapshotId: string, snapshotName: string): Promise<void>;
  remove(sandboxId: string, snapshotId: string, snapshotName: string): Promise<void>;
  /** Reloads a tree on show when any client took, restored or deleted one of its snapshots. */
  applyEvent(event: SandboxEvent): void;
}

const EMPTY: SandboxSnapshots = { tree: null, loadError: null, activity: null };

export function createSnapshotsStore(api: AppApi) {
  return createStore<SnapshotsState>()((set, get) => {
    const patch = (sandboxId: string, change: Partial<SandboxSnapshots>) =>
      set((state) => ({ bySandbox: { ...state.bySandbox, [sandboxId]: { ...(state.bySandbox[sandboxId] ?? EMPTY), ...change } } }));

    /** Runs one operation with its progress and outcome in the sandbox's activity line. */
    const operate = async (sandboxId: string, working: string, run: () => Promise<string>) => {
      patch(sandboxId, { activity: { tone: 'working', message: working } });
      try {
        const done = await run();
        patch(sandboxId, { activity: { tone: 'done', message: done } });
      } catch (error) {
        patch(sandboxId, { activity: { tone: 'failed', message: AppError.from(error).message } });
      }
      await get().load(sandboxId);
    };

    return {
      bySandbox: {},

      async load(sandboxId) {
        try {
          patch(sandboxId, { tree: await api.snapshotTree(sandboxId), loadError: null });
        } catch (error) {
          patch(sandboxId, { loadError: AppError.from(error).message });
        }
      },

      take(sandboxId, name) {
        return operate(sandboxId, 'Taking snapshot…', async () => {
          const snapshot = await api.takeSnapshot(sandboxId, name);
          return `Snapshot ${snapshot.name} taken`;
        });
      },

      restore(sandboxId, snapshotId, snapshotName) {
        return operate(sandboxId, 'Restoring…', async () => {
          await api.restoreSnapshot(sandboxId, snapshotId);
          return `Restored snapshot ${snapshotName}`;
        });
      },

      fork(sandboxId, snapshotId, snapshotName) {
        return operate(sandboxId, 'Forking…', async () => {
          const sandbox = await api.forkSnapshot(sandboxId, snapshotId);
          return `Forked snapshot ${snapshotName} into sandbox ${sandbox.name}`;
        });
      },

      remove(sandboxId, snapshotId, snapshotName) {
        return operate(sandboxId, 'Deleting snapshot…', async () => {
          await api.deleteSnapshot(sandboxId, snapshotId);
          return `Snapshot ${snapshotName} deleted`;
        });
      },

      applyEvent(event) {
        if (event.type === 'snapshot' && get().bySandbox[event.id]) void get().load(event.id);
      },
    };
  });
}

export type SnapshotsStore = ReturnType<typeof createSnapshotsStore>;

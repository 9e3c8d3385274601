import type { AppApi } from '../../../shared/app-contract';
import { createFilesStore, type FilesStore } from './files-store';
import { createNotificationsStore, type NotificationsStore } from './notifications-store';
import { createSandboxesStore, type SandboxesStore } from './sandboxes-store';
import { createSnapshotsStore, type SnapshotsStore } from './snapshots-store';
import { createUploadsStore, type UploadsStore } from './uploads-store';
import { createUsageStore, type UsageStore } from './usage-store';

/** Every store of one window, each talking to the same AppApi. */
export interface AppStores {
  notifications: NotificationsStore;
  sandboxes: SandboxesStore;
  usage: UsageStore;
  snapshots: SnapshotsStore;
  files: FilesStore;
  uploads: UploadsStore;
}

export interface AppStoresOptions {
  /** How often usage is read (the issue asks for about two seconds). */
  usageIntervalMs: number;
}

export function createAppStores(api: AppApi, options: AppStoresOptions): AppStores {
  const notifications = createNotificationsStore();
  return {
    notifications,
    sandboxes: createSandboxesStore(api, notifications),
    usage: createUsageStore(api, notifications, options.usageIntervalMs),
    snapshots: createSnapshotsStore(api),
    files: createFilesStore(api),
    uploads: createUploadsStore(api),
  };
}

/**
 * Makes the stores live: one event stream for the whole window, routed to every store
 * that cares, the first listing, and usage polling. Returns what stops all of it.
 */
export function connectAppStores(api: AppApi, stores: AppStores): () => void {
  const unwatch = api.watchEvents(
    (event) => {
      stores.sandboxes.getState().applyEvent(event);
      stores.snapshots.getState().applyEvent(event);
    },
    (connected) => stores.sandboxes.getState().setConnected(connected),
  );
  void stores.sandboxes.getState().load();
  const stopPolling = stores.usage.getState().startPolling();
  return () => {
    unwatch();
    stopPolling();
  };
}

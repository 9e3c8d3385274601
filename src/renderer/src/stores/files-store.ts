import { createStore } from 'zustand/vanilla';
import type { FileInfo } from '../../../shared/api/file-schemas';
import { AppError, type AppApi } from '../../../shared/app-contract';
import { childGuestPath } from '../files/guest-paths';

/** One sandbox's file browser: the directory shown and the last failure. */
export interface FileBrowser {
  path: string;
  entries: FileInfo[] | null;
  loading: boolean;
  error: string | null;
}

export interface FilesState {
  bySandbox: Record<string, FileBrowser>;
  /** Lists a directory; on failure the previous listing stays and the error shows. */
  open(sandboxId: string, path: string): Promise<void>;
  refresh(sandboxId: string): Promise<void>;
  makeDirectory(sandboxId: string, name: string): Promise<boolean>;
  remove(sandboxId: string, entry: FileInfo): Promise<void>;
  download(sandboxId: string, entry: FileInfo): Promise<void>;
  clearError(sandboxId: string): void;
}

/** Where a sandbox's browser starts: the guest's root user's home. */
export const START_PATH = '/root';

const byTypeThenName = (a: FileInfo, b: FileInfo) => Number(b.type === 'dir') - Number(a.type === 'dir') || a.name.localeCompare(b.name);

export function createFilesStore(api: AppApi) {
  // Only the latest listing per sandbox may land: a slow earlier one must not overwrite it.
  const latestRequest = new Map<string, number>();
  let requests = 0;

  return createStore<FilesState>()((set, get) => {
    const browser = (sandboxId: string): FileBrowser => get().bySandbox[sandboxId] ?? { path: START_PATH, entries: null, loading: false, error: null };
    const patch = (sandboxId: string, change: Partial<FileBrowser>) =>
      set((state) => ({ bySandbox: { ...state.bySandbox, [sandboxId]: { ...browser(sandboxId), ...change } } }));
    const fail = (sandboxId: string, error: unknown) => patch(sandboxId, { error: AppError.from(error).message });

    return {
      bySandbox: {},

      async open(sandboxId, path) {
        const request = ++requests;
        latestRequest.set(sandboxId, request);
        patch(sandboxId, { loading: true });
        try {
          const entries = await api.listFiles(sandboxId, path);
          if (latestRequest.get(sandboxId) !== request) return;
          patch(sandboxId, { path, entries: [...entries].sort(byTypeThenName), loading: false, error: null });
        } catch (error) {
          if (latestRequest.get(sandboxId) !== request) return;
          patch(sandboxId, { loading: false, error: `Cannot open ${path}: ${AppError.from(error).message}` });
        }
      },

      refresh(sandboxId) {
        return get().open(sandboxId, browser(sandboxId).path);
      },

      async makeDirectory(sandboxId, name) {
        try {
          await api.makeDirectory(sandboxId, childGuestPath(browser(sandboxId).path, name));
        } catch (error) {
          fail(sandboxId, error);
          return false;
        }
        await get().refresh(sandboxId);
        return true;
      },

      async remove(sandboxId, entry) {
        try {
          await api.removePath(sandboxId, entry.path);
        } catch (error) {
          fail(sandboxId, error);
          return;
        }
        await get().refresh(sandboxId);
      },

      async download(sandboxId, entry) {
        try {
          await api.downloadFile(sandboxId, entry.path);
        } catch (error) {
          fail(sandboxId, error);
        }
      },

      clearError(sandboxId) {
        patch(sandboxId, { error: null });
      },
    };
  });
}

export type FilesStore = ReturnType<typeof createFilesStore>;

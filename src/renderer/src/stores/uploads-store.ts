import { createStore } from 'zustand/vanilla';
import { AppError, type AppApi, type UploadItem, type UploadJob, type UploadProgress, type UploadSummary } from '../../../shared/app-contract';

/** One file of an upload as the list shows it; key tells files of different drops apart. */
export interface UploadRow extends UploadProgress {
  key: string;
}

export interface UploadsState {
  bySandbox: Record<string, UploadRow[]>;
  /** Uploads into destDir; settles when every file is done, failed or cancelled. */
  start(sandboxId: string, destDir: string, items: UploadItem[]): Promise<UploadSummary>;
  cancel(key: string): void;
  clearFinished(sandboxId: string): void;
}

const FINISHED = new Set<UploadProgress['state']>(['done', 'failed', 'cancelled']);

export function isFinished(row: UploadProgress): boolean {
  return FINISHED.has(row.state);
}

export function createUploadsStore(api: AppApi) {
  const jobs = new Map<string, UploadJob>();
  let jobCount = 0;

  return createStore<UploadsState>()((set) => {
    const update = (sandboxId: string, key: string, change: Partial<UploadRow>) =>
      set((state) => ({
        bySandbox: { ...state.bySandbox, [sandboxId]: (state.bySandbox[sandboxId] ?? []).map((row) => (row.key === key ? { ...row, ...change } : row)) },
      }));

    return {
      bySandbox: {},

      async start(sandboxId, destDir, items) {
        const jobId = String(++jobCount);
        const keyOf = (index: number) => `${jobId}:${index}`;
        const rows: UploadRow[] = items.map((item, index) => ({ key: keyOf(index), index, relativePath: item.relativePath, loaded: 0, total: item.file.size, state: 'queued' }));
        set((state) => ({ bySandbox: { ...state.bySandbox, [sandboxId]: [...(state.bySandbox[sandboxId] ?? []), ...rows] } }));
        try {
          const job = api.uploadFiles(sandboxId, destDir, items, (progress) => update(sandboxId, keyOf(progress.index), progress));
          jobs.set(jobId, job);
          return await job.result();
        } catch (error) {
          const message = AppError.from(error).message;
          for (const row of rows) update(sandboxId, row.key, { state: 'failed', error: message });
          return { done: 0, failed: rows.length, cancelled: 0 };
        } finally {
          jobs.delete(jobId);
        }
      },

      cancel(key) {
        const [jobId, index] = key.split(':');
        jobs.get(jobId ?? '')?.cancel(Number(index));
      },

      clearFinished(sandboxId) {
        set((state) => ({ bySandbox: { ...state.bySandbox, [sandboxId]: (state.bySandbox[sandboxId] ?? []).filter((row) => !isFinished(row)) } }));
      },
    };
  });
}

export type UploadsStore = ReturnType<typeof createUploadsStore>;

import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { isAbsolute, posix } from 'node:path';
import { AppError, type UploadJob, type UploadProgress, type UploadState, type UploadSummary } from '../../shared/app-contract.js';
import type { HostUploadItem } from '../../shared/ipc-protocol.js';
import type { SandboxFiles } from '../../sdk/index.js';
import { toAppError } from './sdk-errors.js';

/** Progress while a file is sent is reported at most this often; state changes always at once. */
const PROGRESS_INTERVAL_MS = 100;

/**
 * Uploads files from this machine into a sandbox, one after another: each is streamed
 * from disk through the SDK (an atomic write, so a cancelled or failed file leaves nothing
 * behind in the guest) with its bytes counted as they are sent. Every file can be cancelled
 * on its own through its AbortController.
 */
export function startHostUpload(
  files: Pick<SandboxFiles, 'write'>,
  destDir: string,
  items: HostUploadItem[],
  onProgress: (progress: UploadProgress) => void,
): UploadJob {
  if (!destDir.startsWith('/')) throw new AppError('invalid_argument', `destDir: "${destDir}" is not an absolute guest path`);
  const entries = items.map((item, index) => ({
    progress: { index, relativePath: item.relativePath, loaded: 0, total: item.size, state: 'queued' as UploadState } satisfies UploadProgress,
    hostPath: item.path,
    abort: new AbortController(),
  }));
  const report = (entry: (typeof entries)[number], change: Partial<UploadProgress>) => {
    Object.assign(entry.progress, change);
    onProgress({ ...entry.progress });
  };
  const finished = (state: UploadState) => state === 'done' || state === 'failed' || state === 'cancelled';

  for (const entry of entries) report(entry, {});

  const uploadOne = async (entry: (typeof entries)[number]): Promise<void> => {
    const { signal } = entry.abort;
    try {
      signal.throwIfAborted();
      const guestPath = guestTarget(destDir, entry.progress.relativePath);
      const size = await hostFileSize(entry.hostPath, entry.progress.relativePath);
      signal.throwIfAborted();
      report(entry, { state: 'uploading', loaded: 0, total: size });
      let lastReport = Date.now();
      await files.write(guestPath, createReadStream(entry.hostPath, { signal }), {
        mkdirs: true,
        onProgress: (sent) => {
          entry.progress.loaded = sent;
          if (Date.now() - lastReport < PROGRESS_INTERVAL_MS) return;
          lastReport = Date.now();
          report(entry, {});
        },
      });
      report(entry, { state: 'done', loaded: size });
    } catch (error) {
      // cancel() already reported a file it stopped while queued.
      if (!signal.aborted) report(entry, { state: 'failed', error: toAppError(error).message });
      else if (entry.progress.state !== 'cancelled') report(entry, { state: 'cancelled' });
    }
  };

  const result = (async (): Promise<UploadSummary> => {
    for (const entry of entries) await uploadOne(entry);
    const count = (state: UploadState) => entries.filter((entry) => entry.progress.state === state).length;
    return { done: count('done'), failed: count('failed'), cancelled: count('cancelled') };
  })();

  return {
    cancel(index) {
      const chosen = index === undefined ? entries : entries.filter((entry) => entry.progress.index === index);
      for (const entry of chosen) {
        if (finished(entry.progress.state)) continue;
        const queued = entry.progress.state === 'queued';
        entry.abort.abort();
        if (queued) report(entry, { state: 'cancelled' });
      }
    },
    result: () => result,
  };
}

/** destDir joined with a relative path that must stay inside it. */
function guestTarget(destDir: string, relativePath: string): string {
  const segments = relativePath.split('/');
  if (relativePath.startsWith('/') || segments.some((segment) => segment === '' || segment === '.' || segment === '..')) {
    throw new AppError('invalid_argument', `"${relativePath}" must be a relative path without empty, . or .. parts`);
  }
  return posix.join(destDir, relativePath);
}

async function hostFileSize(path: string, relativePath: string): Promise<number> {
  if (!path) throw new AppError('invalid_argument', `${relativePath}: the file has no path on this machine (only files from disk can be uploaded)`);
  if (!isAbsolute(path)) throw new AppError('invalid_argument', `${relativePath}: "${path}" is not an absolute host path`);
  const info = await stat(path).catch((error: NodeJS.ErrnoException) => {
    throw new AppError(error.code === 'ENOENT' ? 'not_found' : 'invalid_argument', `${relativePath}: cannot read ${path} (${error.code ?? error.message})`);
  });
  if (!info.isFile()) throw new AppError('invalid_argument', `${relativePath}: ${path} is not a regular file`);
  return info.size;
}

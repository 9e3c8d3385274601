import { AppError, type UploadItem, type UploadJob, type UploadProgress, type UploadSummary } from '../../../shared/app-contract';
import { absoluteGuestPath, uploadDestination } from './guest-path';
import { errorFromAnswer, segment, type DaemonHttp } from './daemon-http';

/** Files sent at once: enough to hide per-request latency, few enough that each shows progress. */
const CONCURRENT_UPLOADS = 2;

interface Entry {
  progress: UploadProgress;
  file: File;
  target: string;
  request?: XMLHttpRequest;
}

/**
 * Uploads files one PUT each (/files/content?mkdirs=true, written atomically by the guest
 * agent), a few at a time. XMLHttpRequest rather than fetch: only it reports upload
 * progress. Cancelling aborts the request; the daemon then drops the partial file.
 */
export function startUploads(http: DaemonHttp, id: string, destDir: string, items: UploadItem[], onProgress: (progress: UploadProgress) => void): UploadJob {
  const entries: Entry[] = items.map((item, index) => {
    const progress: UploadProgress = { index, relativePath: item.relativePath, loaded: 0, total: item.file.size, state: 'queued' };
    let target = '';
    try {
      target = uploadDestination(absoluteGuestPath('destDir', destDir), item.relativePath);
    } catch (error) {
      progress.state = 'failed';
      progress.error = AppError.from(error).message;
    }
    return { progress, file: item.file, target };
  });

  let settle!: (summary: UploadSummary) => void;
  const finished = new Promise<UploadSummary>((resolve) => (settle = resolve));
  let active = 0;

  const emit = (entry: Entry, change: Partial<UploadProgress>) => {
    Object.assign(entry.progress, change);
    onProgress({ ...entry.progress });
  };
  const isOver = (entry: Entry) => entry.progress.state === 'done' || entry.progress.state === 'failed' || entry.progress.state === 'cancelled';
  const summary = (): UploadSummary => ({
    done: entries.filter((e) => e.progress.state === 'done').length,
    failed: entries.filter((e) => e.progress.state === 'failed').length,
    cancelled: entries.filter((e) => e.progress.state === 'cancelled').length,
  });

  const pump = () => {
    for (const entry of entries) {
      if (active >= CONCURRENT_UPLOADS) break;
      if (entry.progress.state === 'queued') send(entry);
    }
    if (active === 0 && entries.every(isOver)) settle(summary());
  };

  const send = (entry: Entry) => {
    active += 1;
    const request = new XMLHttpRequest();
    entry.request = request;
    const ended = (change: Partial<UploadProgress>) => {
      active -= 1;
      entry.request = undefined;
      emit(entry, change);
      pump();
    };
    request.upload.onprogress = (event) => {
      if (entry.progress.state === 'uploading') emit(entry, { loaded: event.loaded });
    };
    request.onload = () => {
      if (request.status >= 200 && request.status < 300) ended({ state: 'done', loaded: entry.progress.total });
      else ended({ state: 'failed', error: errorFromAnswer(request.status, request.responseText).message });
    };
    request.onerror = () => ended({ state: 'failed', error: http.unreachable('PUT', `/sandboxes/${segment(id)}/files/content`, new Error('the upload connection failed')).message });
    request.onabort = () => ended({ state: 'cancelled' });
    request.open('PUT', http.url(`/sandboxes/${segment(id)}/files/content`, { path: entry.target, mkdirs: true }));
    // A File's own type (application/json, multipart/…) would send it to another body parser.
    request.setRequestHeader('content-type', 'application/octet-stream');
    emit(entry, { state: 'uploading' });
    request.send(entry.file);
  };

  for (const entry of entries) onProgress({ ...entry.progress });
  // The first requests start after the caller has its job (and can cancel).
  queueMicrotask(pump);

  const cancelOne = (entry: Entry) => {
    if (entry.progress.state === 'uploading') entry.request?.abort();
    else if (entry.progress.state === 'queued') emit(entry, { state: 'cancelled' });
  };

  return {
    cancel(index?: number) {
      if (index === undefined) {
        // Queued files first: an aborted request makes room that a queued file would otherwise take.
        for (const entry of entries) if (entry.progress.state === 'queued') cancelOne(entry);
        for (const entry of entries) cancelOne(entry);
      } else {
        const entry = entries[index];
        if (!entry) throw new AppError('invalid_argument', `cancel: no file ${index} in this upload of ${entries.length}`);
        cancelOne(entry);
      }
      pump();
    },
    result: () => finished,
  };
}

import type { FileInfo } from '../../../shared/api/file-schemas';
import { AppError } from '../../../shared/app-contract';
import { segment, type DaemonHttp } from './daemon-http';
import { absoluteGuestPath } from './guest-path';

/**
 * Hands a guest file to the browser's own download manager (a link with `download`), so
 * large files stream to disk instead of through page memory. The page cannot see how a
 * download ends, so a stat first turns a missing path or a directory into an AppError.
 */
export async function downloadGuestFile(http: DaemonHttp, id: string, path: string): Promise<void> {
  absoluteGuestPath('path', path);
  const info = await http.request<FileInfo>('GET', `/sandboxes/${segment(id)}/files/stat`, { query: { path } });
  if (info.type !== 'file') throw new AppError('is_directory', `${path} is a ${info.type === 'dir' ? 'directory' : info.type}, not a regular file`);
  const link = document.createElement('a');
  link.href = http.url(`/sandboxes/${segment(id)}/files/content`, { path, download: true });
  link.download = info.name;
  link.style.display = 'none';
  document.body.append(link);
  try {
    link.click();
  } finally {
    link.remove();
  }
}

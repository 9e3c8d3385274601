import { AppError } from '../../../shared/app-contract';

/** Refuses a guest path that is not absolute, naming the argument, before it becomes a query string. */
export function absoluteGuestPath(what: string, path: string): string {
  if (typeof path !== 'string' || !path.startsWith('/')) {
    throw new AppError('invalid_argument', `${what}: "${String(path)}" is not an absolute guest path (it must start with /)`);
  }
  return path;
}

/**
 * Where an uploaded file lands: its relative path under the destination directory. The
 * daemon writes any absolute path it is given, so only here can a name that climbs out
 * of the directory (`../x`) or is itself absolute be refused.
 */
export function uploadDestination(destDir: string, relativePath: string): string {
  const parts = typeof relativePath === 'string' ? relativePath.split('/') : [];
  if (parts.length === 0 || relativePath.startsWith('/') || parts.some((part) => part === '' || part === '.' || part === '..')) {
    throw new AppError('invalid_argument', `relativePath: "${String(relativePath)}" must be a relative path inside the destination folder (no leading /, no empty, . or .. parts)`);
  }
  return `${destDir.replace(/\/+$/, '')}/${relativePath}`;
}

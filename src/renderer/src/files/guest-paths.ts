/** Paths inside the guest are POSIX and absolute; these keep the browser's path text well-formed. */

export function childGuestPath(directory: string, name: string): string {
  return directory === '/' ? `/${name}` : `${directory.replace(/\/+$/, '')}/${name}`;
}

export function parentGuestPath(path: string): string {
  const trimmed = path.replace(/\/+$/, '');
  const cut = trimmed.lastIndexOf('/');
  return cut <= 0 ? '/' : trimmed.slice(0, cut);
}

/** Normalises what the user typed in the Path box, or says why it cannot be a directory path. */
export function typedGuestPath(text: string): { path: string } | { error: string } {
  const path = text.trim();
  if (!path.startsWith('/')) return { error: `"${path}" is not an absolute path: it must start with /` };
  const parts = path.split('/').filter((part) => part !== '' && part !== '.');
  const resolved: string[] = [];
  for (const part of parts) {
    if (part === '..') resolved.pop();
    else resolved.push(part);
  }
  return { path: `/${resolved.join('/')}` };
}

/** A new folder's name: one path component. */
export function folderNameProblem(name: string): string | null {
  if (name.trim() === '') return 'Enter a folder name';
  if (name.includes('/')) return 'A folder name cannot contain /';
  if (name === '.' || name === '..') return `"${name}" is not a folder name`;
  return null;
}

import { readdir, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { InlineConfig } from 'vite';
import { defaultUiDir } from '../api/browser-ui.js';
import { projectRoot } from '../core/paths/app-paths.js';

/** What the built UI is made of: a change to any of these makes the build stale. */
function uiSources(): string[] {
  const root = projectRoot();
  return [join(root, 'src', 'renderer'), join(root, 'src', 'shared'), join(root, 'electron.vite.config.ts')];
}

async function newestMtimeMs(path: string): Promise<number> {
  const info = await stat(path).catch(() => null);
  if (!info) return 0;
  if (!info.isDirectory()) return info.mtimeMs;
  const entries = await readdir(path);
  const times = await Promise.all(entries.map((entry) => newestMtimeMs(join(path, entry))));
  return Math.max(info.mtimeMs, ...times);
}

/** Whether out/renderer exists and is newer than every source of the UI. */
export async function uiBuildIsCurrent(dir: string = defaultUiDir()): Promise<boolean> {
  const built = await stat(join(dir, 'index.html')).catch(() => null);
  if (!built) return false;
  const sources = await Promise.all(uiSources().map(newestMtimeMs));
  return built.mtimeMs >= Math.max(...sources);
}

/**
 * Builds the renderer alone (the Electron main and preload are not needed in browser mode)
 * with the renderer section of electron.vite.config.ts, so both builds stay one definition.
 * Assets are addressed from `/`, so deep links served by the daemon find them. The new
 * build replaces the old one in a rename, so a daemon serving it never sees half a build.
 */
export async function buildUi(dir: string = defaultUiDir()): Promise<void> {
  const { build } = await import('vite');
  const configUrl = pathToFileURL(join(projectRoot(), 'electron.vite.config.ts')).href;
  // electron-vite's renderer section is a Vite config of its own.
  const { renderer } = ((await import(configUrl)) as { default: { renderer: InlineConfig } }).default;
  const partial = `${dir}.partial-${process.pid}`;
  const previous = `${dir}.previous-${process.pid}`;
  try {
    await build({ ...renderer, configFile: false, base: '/', logLevel: 'warn', build: { ...renderer.build, outDir: partial, emptyOutDir: true } });
    await rename(dir, previous).catch((error: NodeJS.ErrnoException) => {
      if (error.code !== 'ENOENT') throw error;
    });
    await rename(partial, dir);
  } finally {
    await rm(partial, { recursive: true, force: true });
    await rm(previous, { recursive: true, force: true });
  }
}

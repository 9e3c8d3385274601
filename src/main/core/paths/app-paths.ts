import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const APP_DIR = 'microvm-sandbox';
const PACKAGE_NAME = 'microvm-sandbox';

/**
 * Where the app keeps its files, following the XDG base directory spec.
 * MICROVM_DATA_DIR moves all per-user state at once, which tests and benchmarks use to
 * stay out of the user's real directories.
 */
export interface AppPaths {
  /** Built images, sandboxes, the store. */
  data: string;
  /**
   * Built images, content-addressed. Inside `data` unless MICROVM_IMAGES_DIR says
   * otherwise, which lets tests with a throwaway data dir share the images already built.
   */
  images: string;
  /** Downloads and build intermediates that can be thrown away. */
  cache: string;
  /** Sockets and pid files; cleared on reboot. */
  runtime: string;
  config: string;
}

export function appPaths(env: NodeJS.ProcessEnv = process.env): AppPaths {
  const override = env.MICROVM_DATA_DIR;
  const images = (data: string) => (env.MICROVM_IMAGES_DIR ? resolve(env.MICROVM_IMAGES_DIR) : join(data, 'images'));
  if (override) {
    const base = resolve(override);
    return {
      data: join(base, 'data'),
      images: images(join(base, 'data')),
      cache: join(base, 'cache'),
      runtime: join(base, 'run'),
      config: join(base, 'config'),
    };
  }
  const home = homedir();
  const uid = process.getuid?.() ?? 0;
  const data = join(env.XDG_DATA_HOME || join(home, '.local', 'share'), APP_DIR);
  return {
    data,
    images: images(data),
    cache: join(env.XDG_CACHE_HOME || join(home, '.cache'), APP_DIR),
    runtime: join(env.XDG_RUNTIME_DIR || join('/tmp', `${APP_DIR}-${uid}`), APP_DIR),
    config: join(env.XDG_CONFIG_HOME || join(home, '.config'), APP_DIR),
  };
}

/** The checkout (or unpacked app) root, found from this module's own location. */
let cachedProjectRoot: string | null = null;

/**
 * The directory holding this package's package.json. Found by walking up rather than by a
 * fixed relative path, because the same code also runs bundled (out/main/index.js).
 */
export function projectRoot(): string {
  if (cachedProjectRoot) return cachedProjectRoot;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const manifest = join(dir, 'package.json');
    if (existsSync(manifest) && (JSON.parse(readFileSync(manifest, 'utf8')) as { name?: string }).name === PACKAGE_NAME) {
      return (cachedProjectRoot = dir);
    }
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`cannot find the ${PACKAGE_NAME} package.json above ${fileURLToPath(import.meta.url)}`);
    dir = parent;
  }
}

export function guestAgentSourceDir(): string {
  return join(projectRoot(), 'guest-agent');
}

/** Where the daemon, its clients and its logs meet, under one data-dir override. */
export interface DaemonPaths {
  /** The API's Unix socket (mode 0600): the default, token-free way in. */
  socket: string;
  /** The TCP listener's bearer token (mode 0600). */
  token: string;
  audit: string;
  /** Output of a daemon the CLI started in the background. */
  log: string;
}

export function daemonPaths(env: NodeJS.ProcessEnv = process.env): DaemonPaths {
  const paths = appPaths(env);
  return {
    socket: env.MICROVM_SOCKET || join(paths.runtime, 'api.sock'),
    token: join(paths.config, 'api-token'),
    audit: join(paths.data, 'audit.log'),
    log: join(paths.data, 'daemon.log'),
  };
}

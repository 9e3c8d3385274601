import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { ProgressListener } from '../build/progress.js';
import { SandboxError } from '../errors/sandbox-error.js';
import { appPaths } from '../paths/app-paths.js';
import { buildMinimalImage, type MinimalImage } from './minimal-image-builder.js';

export interface TemplateSummary {
  name: string;
  description: string;
  /** An image has been built and is cached. */
  built: boolean;
  sizeBytes: number | null;
}

interface TemplateDefinition {
  description: string;
  build(onProgress?: ProgressListener): Promise<MinimalImage>;
}

const TEMPLATES: Record<string, TemplateDefinition> = {
  minimal: {
    description: 'Debian cloud kernel, busybox and the agent as init, in an initramfs: boots fastest, no disk',
    build: (onProgress) => buildMinimalImage({ onProgress }),
  },
};

/**
 * The templates sandboxes boot from and their cached images. Builds of one template are
 * shared: a second caller while one runs waits for the same build instead of racing it.
 * Checking that an image is up to date means asking apt and hashing the agent's sources
 * (about 1.5 s), so a process does it once per template; an explicit build checks again.
 */
export class TemplateCatalog {
  private readonly building = new Map<string, Promise<MinimalImage>>();
  private readonly listeners = new Map<string, Set<ProgressListener>>();
  private readonly ready = new Map<string, MinimalImage>();

  names(): string[] {
    return Object.keys(TEMPLATES);
  }

  async list(): Promise<TemplateSummary[]> {
    return Promise.all(
      Object.entries(TEMPLATES).map(async ([name, definition]) => {
        const sizeBytes = await newestImageSize(join(appPaths().images, name));
        return { name, description: definition.description, built: sizeBytes !== null, sizeBytes };
      }),
    );
  }

  /**
   * The template's image, built first if its inputs changed (checked once per process, or
   * again with `recheck`); progress goes to every waiting caller's listener.
   */
  async image(name: string, onProgress?: ProgressListener, options: { recheck?: boolean } = {}): Promise<MinimalImage> {
    const definition = Object.hasOwn(TEMPLATES, name) ? TEMPLATES[name] : undefined;
    if (!definition) {
      throw new SandboxError('not_found', `template: unknown template "${name}"; available: ${this.names().join(', ')}`, { field: 'template' });
    }
    const known = this.ready.get(name);
    if (known && !options.recheck) return known;
    const listeners = this.listeners.get(name) ?? new Set<ProgressListener>();
    if (onProgress) listeners.add(onProgress);
    this.listeners.set(name, listeners);
    let build = this.building.get(name);
    if (!build) {
      build = definition.build((event) => listeners.forEach((listener) => listener(event)));
      this.building.set(name, build);
      void build.then((image) => this.ready.set(name, image), () => undefined);
      const done = () => {
        this.building.delete(name);
        this.listeners.delete(name);
      };
      build.then(done, done);
    }
    return build;
  }
}

/** Size of the most recently built image directory of a template, or null when none is built. */
async function newestImageSize(templateDir: string): Promise<number | null> {
  let newest: { mtimeMs: number; size: number } | null = null;
  for (const entry of await readdir(templateDir, { withFileTypes: true }).catch(() => [])) {
    if (!entry.isDirectory() || entry.name.startsWith('.')) continue;
    const dir = join(templateDir, entry.name);
    const manifest = await stat(join(dir, 'manifest.json')).catch(() => null);
    if (!manifest) continue;
    let size = 0;
    for (const file of await readdir(dir)) size += (await stat(join(dir, file))).size;
    if (!newest || manifest.mtimeMs > newest.mtimeMs) newest = { mtimeMs: manifest.mtimeMs, size };
  }
  return newest?.size ?? null;
}

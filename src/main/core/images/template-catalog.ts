import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { ProgressListener } from '../build/progress.js';
import { SandboxError } from '../errors/sandbox-error.js';
import { appPaths, projectRoot } from '../paths/app-paths.js';
import type { BuiltImage, TemplateDefaults, TemplateDisplay, TemplateKind } from './built-image.js';
import { buildMinimalImage } from './minimal-image-builder.js';
import { buildRootfsImage, describeTemplate, type RootfsImageOptions } from './rootfs-image-builder.js';
import { loadTemplateDefinitions, type LoadedTemplates, type TemplateDefinition, type TemplateDefinitionError, type TemplateDirectories } from './template-definition.js';

export interface TemplateSummary {
  name: string;
  description: string;
  kind: TemplateKind;
  /** Shipped with the app (images/templates) or the user's own (<config>/templates). */
  source: 'builtin' | 'user';
  defaults: TemplateDefaults;
  display: TemplateDisplay | null;
  /** An image has been built and is cached. */
  built: boolean;
  sizeBytes: number | null;
}

/** When no template is pinned (config `defaults.template` is "auto"), new sandboxes get the first of these that is built, else the last. */
export const AUTO_DEFAULT_ORDER = ['ai-agent', 'minimal'] as const;
const LAST_RESORT = 'minimal';
export const AUTO_TEMPLATE = 'auto';

export interface TemplateCatalogOptions {
  /** Where definitions are read from; defaults to images/templates and <config>/templates. */
  directories?: TemplateDirectories;
  /** Passed to rootfs builds (tests force a mode). */
  rootfs?: Omit<RootfsImageOptions, 'onProgress'>;
}

/** The directories definitions come from by default. */
export function defaultTemplateDirectories(): TemplateDirectories {
  const root = projectRoot();
  return { builtin: join(root, 'images', 'templates'), user: join(appPaths().config, 'templates'), relativeTo: root };
}

/**
 * The templates sandboxes boot from and their cached images. Definitions are files, read
 * again on every call (they are small), so a user's new template shows up without a
 * restart. Builds of one template are shared: a second caller while one runs waits for
 * the same build instead of racing it. Checking that an image is up to date means asking
 * apt and hashing the agent's sources (1-2 s), so a process does it once per template and
 * definition; an explicit build checks again.
 */
export class TemplateCatalog {
  private readonly building = new Map<string, Promise<BuiltImage>>();
  private readonly listeners = new Map<string, Set<ProgressListener>>();
  private readonly ready = new Map<string, { fingerprint: string; image: BuiltImage }>();

  constructor(private readonly options: TemplateCatalogOptions = {}) {}

  /** Every definition that loads, and the files that do not (each error names the file and field). */
  load(): LoadedTemplates {
    return loadTemplateDefinitions(this.options.directories ?? defaultTemplateDirectories());
  }

  names(): string[] {
    return this.load().definitions.map((d) => d.name);
  }

  /** Definition errors, for listing next to the templates. */
  errors(): TemplateDefinitionError[] {
    return this.load().errors;
  }

  /** One template's definition; an unknown name is not_found, a broken file invalid_config naming the field. */
  definition(name: string): TemplateDefinition {
    const { definitions, errors } = this.load();
    const found = definitions.find((d) => d.name === name);
    if (found) return found;
    const broken = errors.find((e) => e.name === name);
    if (broken) throw new SandboxError('invalid_config', broken.message, { field: 'template', file: broken.file });
    throw new SandboxError('not_found', `template: unknown template "${name}"; available: ${definitions.map((d) => d.name).join(', ')}`, { field: 'template' });
  }

  async list(): Promise<TemplateSummary[]> {
    return Promise.all(
      this.load().definitions.map(async (definition) => {
        const sizeBytes = await newestImageSize(join(appPaths().images, definition.name));
        return {
          name: definition.name,
          description: definition.description,
          kind: definition.kind,
          source: definition.source,
          defaults: { ...definition.defaults },
          display: definition.display,
          built: sizeBytes !== null,
          sizeBytes,
        };
      }),
    );
  }

  /**
   * The template new sandboxes get when they name none: the configured one, or with
   * "auto" the ai-agent template once its image is built, else minimal.
   */
  async defaultName(configured: string = AUTO_TEMPLATE): Promise<string> {
    if (configured !== AUTO_TEMPLATE) return configured;
    const names = this.names();
    for (const candidate of AUTO_DEFAULT_ORDER) {
      if (candidate === LAST_RESORT) break;
      if (names.includes(candidate) && (await newestImageSize(join(appPaths().images, candidate))) !== null) return candidate;
    }
    return LAST_RESORT;
  }

  /**
   * The template's image, built first if its inputs changed (checked once per process and
   * definition, or again with `recheck`); progress goes to every waiting caller's listener.
   */
  async image(name: string, onProgress?: ProgressListener, options: { recheck?: boolean } = {}): Promise<BuiltImage> {
    const definition = this.definition(name);
    const fingerprint = JSON.stringify(definition);
    const known = this.ready.get(name);
    if (known && known.fingerprint === fingerprint && !options.recheck) return known.image;
    const listeners = this.listeners.get(name) ?? new Set<ProgressListener>();
    if (onProgress) listeners.add(onProgress);
    this.listeners.set(name, listeners);
    let build = this.building.get(name);
    if (!build) {
      build = this.build(definition, (event) => listeners.forEach((listener) => listener(event)));
      this.building.set(name, build);
      void build.then((image) => this.ready.set(name, { fingerprint, image }), () => undefined);
      const done = () => {
        this.building.delete(name);
        this.listeners.delete(name);
      };
      build.then(done, done);
    }
    return build;
  }

  private async build(definition: TemplateDefinition, onProgress: ProgressListener): Promise<BuiltImage> {
    if (definition.kind === 'rootfs') return buildRootfsImage(definition, { ...this.options.rootfs, onProgress });
    // The one initramfs template: its builder is code (minimal-image-builder.ts, images/minimal/image.json).
    const image = await buildMinimalImage({ onProgress });
    return { ...image, template: describeTemplate(definition) };
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

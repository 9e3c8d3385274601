import { readdirSync, readFileSync } from 'node:fs';
import { basename, join, relative } from 'node:path';
import { Type, type Static, type TSchema } from 'typebox';
import { Value } from 'typebox/value';
import { SandboxError } from '../errors/sandbox-error.js';
import type { TemplateDefaults, TemplateDisplay, TemplateKind, TemplateService } from './built-image.js';

/**
 * Template definitions as files: `images/templates/<name>.json` in the app, and the user's
 * own in `<config dir>/templates/<name>.json`. docs/templates.md describes the format.
 * This module is the format's one definition (the TypeBox schema), its loading, and the
 * errors a bad file gets: each names the file and the field.
 */

/** What apt accepts as a package name (Debian policy §5.6.1), lowercase only. */
export const DEBIAN_PACKAGE_NAME = /^[a-z0-9][a-z0-9+.-]+$/;
/** Template names double as directory names and CLI arguments. */
export const TEMPLATE_NAME = /^[a-z0-9]([a-z0-9-]{0,38}[a-z0-9])?$/;
/** The only base rootfs templates can start from, for now. */
export const SUPPORTED_BASES = ['debian-bookworm'] as const;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const USER_NAME = /^[a-z_][a-z0-9_-]*\$?$/;

/** `expected` is this module's own annotation: what an error says the field should be. */
const annotate = <T extends TSchema>(schema: T, expected: string): T => Object.assign(schema, { expected });

const ServiceSchema = Type.Object(
  {
    name: annotate(Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$' }), 'a service name (letters, digits, . _ -)'),
    argv: annotate(Type.Array(annotate(Type.String({ minLength: 1 }), 'a non-empty string'), { minItems: 1 }), 'a non-empty array of strings (the program and its arguments)'),
    env: Type.Optional(Type.Record(Type.String(), Type.String())),
    user: Type.Optional(annotate(Type.String({ pattern: USER_NAME.source }), 'a user name')),
  },
  { additionalProperties: false },
);

const DisplaySchema = Type.Object(
  {
    width: annotate(Type.Integer({ minimum: 320, maximum: 7680 }), 'a width in pixels, 320 to 7680'),
    height: annotate(Type.Integer({ minimum: 200, maximum: 4320 }), 'a height in pixels, 200 to 4320'),
    depth: annotate(Type.Literal(24), 'the colour depth 24'),
  },
  { additionalProperties: false },
);

const DefaultsSchema = Type.Object(
  {
    vcpus: Type.Optional(annotate(Type.Integer({ minimum: 1, maximum: 64 }), 'a whole number of vCPUs, 1 to 64')),
    memoryMiB: Type.Optional(annotate(Type.Integer({ minimum: 64, maximum: 262144 }), 'a whole number of MiB, at least 64')),
    diskMiB: Type.Optional(annotate(Type.Integer({ minimum: 256, maximum: 4194304 }), 'a whole number of MiB, at least 256')),
  },
  { additionalProperties: false },
);

/** A template file as written. Everything but `description` and `kind` has a default. */
export const TemplateFileSchema = Type.Object(
  {
    $schema: Type.Optional(Type.String()),
    description: annotate(Type.String({ minLength: 1, maxLength: 500 }), 'a non-empty string'),
    kind: annotate(Type.Union([Type.Literal('initramfs'), Type.Literal('rootfs')]), '"rootfs" or "initramfs"'),
    base: Type.Optional(annotate(Type.Union(SUPPORTED_BASES.map((b) => Type.Literal(b))), `one of ${SUPPORTED_BASES.map((b) => `"${b}"`).join(', ')}`)),
    packages: Type.Optional(
      annotate(Type.Array(annotate(Type.String({ pattern: DEBIAN_PACKAGE_NAME.source, maxLength: 128 }), 'a Debian package name (lowercase letters, digits, + . -)')), 'an array of Debian package names'),
    ),
    setup: Type.Optional(annotate(Type.Array(annotate(Type.String({ minLength: 1 }), 'a non-empty shell command line')), 'an array of shell command lines')),
    defaults: Type.Optional(DefaultsSchema),
    display: Type.Optional(annotate(Type.Union([Type.Null(), DisplaySchema]), 'null or an object {width, height, depth}')),
    services: Type.Optional(annotate(Type.Array(ServiceSchema), 'an array of services')),
  },
  { additionalProperties: false },
);
export type TemplateFile = Static<typeof TemplateFileSchema>;

/** A checked definition with every default filled in. */
export interface TemplateDefinition {
  name: string;
  /** The file it came from (absolute). */
  file: string;
  source: 'builtin' | 'user';
  description: string;
  kind: TemplateKind;
  /** Rootfs only. */
  base: (typeof SUPPORTED_BASES)[number] | null;
  packages: string[];
  setup: string[];
  defaults: TemplateDefaults;
  display: TemplateDisplay | null;
  services: TemplateService[];
}

/** A definition file that could not be used, and why (the message names the file and the field). */
export interface TemplateDefinitionError {
  name: string;
  file: string;
  message: string;
}

const INITRAMFS_DEFAULTS = { vcpus: 1, memoryMiB: 256 } as const;
const ROOTFS_DEFAULTS = { vcpus: 1, memoryMiB: 512, diskMiB: 2048 } as const;
/** Built-in templates whose kind is initramfs: their builder is code, not a definition. */
const INITRAMFS_BUILDERS = ['minimal'];

/**
 * Checks one definition file's parsed JSON. `file` is how errors name it (a path shown to
 * the user); `name` comes from the file name.
 */
export function parseTemplateDefinition(json: unknown, name: string, file: string, source: TemplateDefinition['source']): TemplateDefinition {
  const fail = (field: string, problem: string): never => {
    throw new SandboxError('invalid_config', `${file}: ${field ? `${field}: ` : ''}${problem}`, { file, ...(field ? { field } : {}) });
  };
  if (!TEMPLATE_NAME.test(name)) {
    fail('', `"${name}" is not a valid template name: the file name must be 1-40 lowercase letters, digits and '-' plus ".json"`);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) fail('', 'expected a JSON object');
  const first = firstError(TemplateFileSchema, json);
  if (first) fail(first.field, first.problem);
  const raw = json as TemplateFile;

  if (raw.kind === 'initramfs') {
    if (!INITRAMFS_BUILDERS.includes(name) || source !== 'builtin') {
      fail('kind', `only the built-in ${INITRAMFS_BUILDERS.join(', ')} template can be an initramfs; use "rootfs"`);
    }
    for (const field of ['base', 'packages', 'setup', 'services'] as const) {
      if (raw[field] !== undefined) fail(field, 'not allowed for an initramfs template (rootfs templates only)');
    }
    if (raw.defaults?.diskMiB !== undefined) fail('defaults.diskMiB', 'not allowed for an initramfs template: it has no disk');
    if (raw.display) fail('display', 'not allowed for an initramfs template');
  } else if (raw.base === undefined) {
    fail('base', `missing: a rootfs template needs a base (${SUPPORTED_BASES.map((b) => `"${b}"`).join(', ')})`);
  }

  const services = raw.services ?? [];
  const seen = new Set<string>();
  services.forEach((service, i) => {
    if (seen.has(service.name)) fail(`services[${i}].name`, `"${service.name}" is used by an earlier service; service names are unique`);
    seen.add(service.name);
    for (const key of Object.keys(service.env ?? {})) {
      if (!ENV_NAME.test(key)) fail(`services[${i}].env.${key}`, 'expected an environment variable name (letters, digits, _)');
    }
  });
  const packages = raw.packages ?? [];
  packages.forEach((pkg, i) => {
    if (packages.indexOf(pkg) !== i) fail(`packages[${i}]`, `"${pkg}" is listed twice`);
  });

  const display = raw.display ?? null;
  // A copy with another `display` needs no other edit: the X server's argv follows it.
  const expand = (arg: string, field: string): string =>
    arg.replace(/\{display\.([a-z]+)\}/g, (_, key: string) => {
      if (!display) return fail(field, `uses {display.${key}} but the template has no display`);
      if (key !== 'width' && key !== 'height' && key !== 'depth') return fail(field, `{display.${key}} is not known; use {display.width}, {display.height} or {display.depth}`);
      return String(display[key]);
    });

  const rootfs = raw.kind === 'rootfs';
  return {
    name,
    file,
    source,
    description: raw.description,
    kind: raw.kind,
    base: rootfs ? (raw.base ?? null) : null,
    packages,
    setup: raw.setup ?? [],
    defaults: rootfs ? { ...ROOTFS_DEFAULTS, ...raw.defaults } : { ...INITRAMFS_DEFAULTS, ...raw.defaults },
    display,
    services: services.map((s, i) => ({ name: s.name, argv: s.argv.map((arg, j) => expand(arg, `services[${i}].argv[${j}]`)), ...(s.env ? { env: { ...s.env } } : {}), ...(s.user ? { user: s.user } : {}) })),
  };
}

/** Reads and checks one file; any problem (unreadable, not JSON, schema) is an invalid_config SandboxError naming it. */
export function loadTemplateFile(path: string, source: TemplateDefinition['source'], shownAs = path): TemplateDefinition {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new SandboxError('invalid_config', `${shownAs}: cannot be read: ${(error as Error).message}`, { file: shownAs });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new SandboxError('invalid_config', `${shownAs}: not valid JSON: ${(error as Error).message}`, { file: shownAs });
  }
  return parseTemplateDefinition(json, basename(path, '.json'), shownAs, source);
}

export interface TemplateDirectories {
  /** The app's own definitions (images/templates). */
  builtin: string;
  /** The user's (`<config>/templates`); may not exist. */
  user: string;
  /** Paths in errors are shown relative to this when inside it (the project root), else absolute. */
  relativeTo?: string;
}

export interface LoadedTemplates {
  definitions: TemplateDefinition[];
  errors: TemplateDefinitionError[];
}

/**
 * Every definition in both directories, built-ins first, each sorted by name. A file that
 * fails its checks is left out and reported in `errors` instead, so one broken user file
 * does not take the others down; a user file may not reuse a built-in's name.
 */
export function loadTemplateDefinitions(dirs: TemplateDirectories): LoadedTemplates {
  const definitions: TemplateDefinition[] = [];
  const errors: TemplateDefinitionError[] = [];
  const shown = (path: string) => {
    if (!dirs.relativeTo) return path;
    const rel = relative(dirs.relativeTo, path);
    return rel.startsWith('..') ? path : rel;
  };
  for (const [dir, source] of [
    [dirs.builtin, 'builtin'],
    [dirs.user, 'user'],
  ] as const) {
    for (const file of jsonFiles(dir)) {
      const path = join(dir, file);
      const name = basename(file, '.json');
      try {
        const definition = loadTemplateFile(path, source, shown(path));
        const clash = definitions.find((d) => d.name === name);
        if (clash) {
          throw new SandboxError(
            'invalid_config',
            `${shown(path)}: name: a template called "${name}" already exists (${clash.file}); template names are unique, so rename this file`,
            { file: shown(path), field: 'name' },
          );
        }
        definitions.push(definition);
      } catch (error) {
        if (!(error instanceof SandboxError)) throw error;
        errors.push({ name, file: shown(path), message: error.message });
      }
    }
  }
  return { definitions, errors };
}

function jsonFiles(dir: string): string[] {
  try {
    return readdirSync(dir, { withFileTypes: true })
      .filter((entry) => entry.isFile() && entry.name.endsWith('.json') && !entry.name.startsWith('.'))
      .map((entry) => entry.name)
      .sort();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
}

interface FieldProblem {
  field: string;
  problem: string;
}

/**
 * The most useful of TypeBox's errors, as a field path in the file's own terms
 * (`packages[2]`, `services[0].argv`) and a sentence saying what was expected.
 */
function firstError(schema: TSchema, value: unknown): FieldProblem | null {
  if (Value.Check(schema, value)) return null;
  const errors = Value.Errors(schema, value);
  // Unknown and missing fields first: they explain a union's other failures too.
  const ranked = [...errors].sort((a, b) => rank(a.keyword) - rank(b.keyword) || b.instancePath.length - a.instancePath.length);
  const error = ranked[0];
  if (!error) return { field: '', problem: 'does not match the template format' };
  const path = fieldPath(error.instancePath);
  const params = error.params as Record<string, unknown>;
  if (error.keyword === 'additionalProperties') {
    const extra = (params.additionalProperties as string[] | undefined)?.[0] ?? '?';
    const known = Object.keys(subSchema(schema, error.schemaPath)?.properties ?? {}).filter((k) => k !== '$schema');
    return { field: join2(path, extra), problem: `unknown field; known fields here: ${known.join(', ')}` };
  }
  if (error.keyword === 'required') {
    const missing = (params.requiredProperties as string[] | undefined)?.[0] ?? '?';
    return { field: join2(path, missing), problem: 'missing (required)' };
  }
  const expected = expectedAt(schema, error.schemaPath);
  const actual = describeValue(valueAt(value, error.instancePath));
  return { field: path, problem: `expected ${expected ?? error.message}, got ${actual}` };
}

function rank(keyword: string): number {
  if (keyword === 'additionalProperties') return 0;
  if (keyword === 'required') return 1;
  if (keyword === 'boolean') return 9; // the "schema is false" twin of additionalProperties
  return 2;
}

function fieldPath(instancePath: string): string {
  return instancePath
    .split('/')
    .slice(1)
    .map((part) => part.replace(/~1/g, '/').replace(/~0/g, '~'))
    .reduce((acc, part) => (/^\d+$/.test(part) ? `${acc}[${part}]` : join2(acc, part)), '');
}

function join2(path: string, key: string): string {
  return path ? `${path}.${key}` : key;
}

type SchemaNode = TSchema & { type?: string; properties?: Record<string, SchemaNode>; items?: SchemaNode; anyOf?: SchemaNode[]; expected?: string };

function subSchema(schema: TSchema, schemaPath: string): SchemaNode | undefined {
  let node: unknown = schema;
  for (const part of schemaPath.replace(/^#\/?/, '').split('/').filter(Boolean)) {
    if (node === null || typeof node !== 'object') return undefined;
    node = (node as Record<string, unknown>)[part.replace(/~1/g, '/').replace(/~0/g, '~')];
  }
  return node as SchemaNode | undefined;
}

/** The nearest `expected` annotation at or above the failing schema node. */
function expectedAt(schema: TSchema, schemaPath: string): string | undefined {
  const parts = schemaPath.replace(/^#\/?/, '').split('/').filter(Boolean);
  for (let n = parts.length; n >= 0; n--) {
    const node = subSchema(schema, `#/${parts.slice(0, n).join('/')}`);
    if (node?.expected) return node.expected;
    if (node && n === parts.length && node.anyOf) {
      const labels = node.anyOf.map((s) => s.expected ?? (s.type === 'null' ? 'null' : s.type === 'object' ? 'an object' : undefined));
      if (labels.every(Boolean)) return labels.join(' or ');
    }
    // Stop at the nearest enclosing object: its own annotation is about a different field.
    if (node && n < parts.length && node.type === 'object') return undefined;
  }
  return undefined;
}

function valueAt(value: unknown, instancePath: string): unknown {
  let node = value;
  for (const part of instancePath.split('/').slice(1)) {
    if (node === null || typeof node !== 'object') return undefined;
    node = (node as Record<string, unknown>)[part.replace(/~1/g, '/').replace(/~0/g, '~')];
  }
  return node;
}

function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return value.length === 0 ? 'an empty array' : 'an array';
  if (typeof value === 'string') return JSON.stringify(value.length > 60 ? `${value.slice(0, 57)}...` : value);
  if (typeof value === 'object') return 'an object';
  return `${typeof value} ${String(value)}`;
}

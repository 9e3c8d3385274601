import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { SandboxError } from '../errors/sandbox-error.js';
import type { HypervisorKind } from '../hypervisor/hypervisor-driver.js';
import { bridgeSubnet } from '../network/ip-leases.js';
import { parseIpv4 } from '../network/network-mode.js';
import { appPaths } from '../paths/app-paths.js';

export type HypervisorChoice = 'auto' | HypervisorKind;

/** The daemon's settings; docs/configuration.md describes every key. */
export interface AppConfig {
  readonly hypervisor: HypervisorChoice;
  readonly cloudHypervisorBinary: string;
  readonly qemuBinary: string;
  readonly limits: {
    readonly maxSandboxes: number;
    readonly maxVcpusPerSandbox: number;
    readonly maxMemoryMiBPerSandbox: number;
    /** Host memory kept free for the host itself when admitting a new VM. */
    readonly memoryReserveMiB: number;
  };
  /** Unset sizes fall back to the template's own defaults (images/templates/*.json). */
  readonly defaults: {
    readonly vcpus?: number;
    readonly memoryMiB?: number;
    /** A template name, or "auto": the richest built template (see TemplateCatalog.defaultName). */
    readonly template: string;
  };
  readonly snapshots: {
    /** Per sandbox, the oldest beyond this are deleted (never an ancestor of the current state). */
    readonly keepPerSandbox: number;
    /** All snapshots together; 0 means no cap. */
    readonly maxTotalMiB: number;
    /** Keep a booted snapshot per template and machine size, and create sandboxes by restoring it. */
    readonly warmStart: boolean;
  };
  /** How `nat` sandboxes reach the network; docs/networking.md. */
  readonly network: {
    /** `tap`: the project bridge (root or the helper); `user`: QEMU user mode; `auto`: tap when possible. */
    readonly backend: 'auto' | 'tap' | 'user';
    /** The project bridge's name: mvbr and digits. */
    readonly bridge: string;
    /** The bridge's IPv4 subnet; its first address is the gateway. */
    readonly subnet: string;
    /** The resolver guests on the bridge use: an IPv4 address, or "auto" (the host's upstream resolver, else the gateway). */
    readonly dns: string;
  };
}

/** Below this a guest kernel cannot boot; a smaller value is almost always GiB typed as MiB. */
const MIN_MEMORY_MIB = 64;

export function defaultConfigPath(env: NodeJS.ProcessEnv = process.env): string {
  return join(appPaths(env).config, 'config.json');
}

export function defaultAppConfig(): AppConfig {
  return deepFreeze({
    hypervisor: 'auto',
    cloudHypervisorBinary: 'cloud-hypervisor',
    qemuBinary: 'qemu-system-x86_64',
    limits: {
      maxSandboxes: 32,
      maxVcpusPerSandbox: availableParallelism(),
      maxMemoryMiBPerSandbox: 8192,
      memoryReserveMiB: 512,
    },
    defaults: { template: 'auto' },
    snapshots: { keepPerSandbox: 50, maxTotalMiB: 0, warmStart: true },
    network: { backend: 'auto', bridge: 'mvbr0', subnet: '10.213.0.0/24', dns: 'auto' },
  });
}

/** Reads the config file; a missing file means all defaults, anything wrong in it is an error. */
export function loadAppConfig(path: string = defaultConfigPath()): AppConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return defaultAppConfig();
    throw new SandboxError('invalid_config', `${path} cannot be read: ${(err as Error).message}`, { file: path });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new SandboxError('invalid_config', `${path} is not valid JSON: ${(err as Error).message}`, { file: path });
  }
  return parseAppConfig(json, path);
}

/**
 * Validates parsed JSON against the known keys, filling in defaults for missing ones.
 * Unknown keys are errors: a misspelt limit that is silently ignored is a limit that does
 * not apply. `file` only names the source in error messages.
 */
export function parseAppConfig(json: unknown, file: string): AppConfig {
  const fail = (key: string, problem: string): never => {
    throw new SandboxError('invalid_config', `${file}: ${key} ${problem}`, { file, key });
  };
  const fallback = defaultAppConfig();

  const root = objectAt(json, 'the top level', fail);
  rejectUnknownKeys(root, fallback, '', fail);
  const limits = root.limits === undefined ? {} : objectAt(root.limits, 'limits', fail);
  rejectUnknownKeys(limits, fallback.limits, 'limits.', fail);
  const defaultsSection = root.defaults === undefined ? {} : objectAt(root.defaults, 'defaults', fail);
  // The sizes are optional, so the fallback object does not list every key.
  rejectUnknownKeys(defaultsSection, { vcpus: 1, memoryMiB: MIN_MEMORY_MIB, template: '' }, 'defaults.', fail);
  const snapshots = root.snapshots === undefined ? {} : objectAt(root.snapshots, 'snapshots', fail);
  rejectUnknownKeys(snapshots, fallback.snapshots, 'snapshots.', fail);
  const network = root.network === undefined ? {} : objectAt(root.network, 'network', fail);
  rejectUnknownKeys(network, fallback.network, 'network.', fail);

  const config: AppConfig = {
    hypervisor: oneOf(root.hypervisor, 'hypervisor', ['auto', 'cloud-hypervisor', 'qemu'], fallback.hypervisor, fail),
    cloudHypervisorBinary: nonEmptyString(root.cloudHypervisorBinary, 'cloudHypervisorBinary', fallback.cloudHypervisorBinary, fail),
    qemuBinary: nonEmptyString(root.qemuBinary, 'qemuBinary', fallback.qemuBinary, fail),
    limits: {
      maxSandboxes: wholeNumber(limits.maxSandboxes, 'limits.maxSandboxes', 1, fallback.limits.maxSandboxes, fail),
      maxVcpusPerSandbox: wholeNumber(limits.maxVcpusPerSandbox, 'limits.maxVcpusPerSandbox', 1, fallback.limits.maxVcpusPerSandbox, fail),
      maxMemoryMiBPerSandbox: wholeNumber(
        limits.maxMemoryMiBPerSandbox,
        'limits.maxMemoryMiBPerSandbox',
        MIN_MEMORY_MIB,
        fallback.limits.maxMemoryMiBPerSandbox,
        fail,
      ),
      memoryReserveMiB: wholeNumber(limits.memoryReserveMiB, 'limits.memoryReserveMiB', 0, fallback.limits.memoryReserveMiB, fail),
    },
    defaults: {
      ...(defaultsSection.vcpus === undefined ? {} : { vcpus: wholeNumber(defaultsSection.vcpus, 'defaults.vcpus', 1, 1, fail) }),
      ...(defaultsSection.memoryMiB === undefined ? {} : { memoryMiB: wholeNumber(defaultsSection.memoryMiB, 'defaults.memoryMiB', MIN_MEMORY_MIB, MIN_MEMORY_MIB, fail) }),
      template: nonEmptyString(defaultsSection.template, 'defaults.template', fallback.defaults.template, fail),
    },
    snapshots: {
      keepPerSandbox: wholeNumber(snapshots.keepPerSandbox, 'snapshots.keepPerSandbox', 1, fallback.snapshots.keepPerSandbox, fail),
      maxTotalMiB: wholeNumber(snapshots.maxTotalMiB, 'snapshots.maxTotalMiB', 0, fallback.snapshots.maxTotalMiB, fail),
      warmStart: boolean(snapshots.warmStart, 'snapshots.warmStart', fallback.snapshots.warmStart, fail),
    },
    network: {
      backend: oneOf(network.backend, 'network.backend', ['auto', 'tap', 'user'], fallback.network.backend, fail),
      bridge: matching(network.bridge, 'network.bridge', /^mvbr[0-9]{1,4}$/, '"mvbr" and 1-4 digits, e.g. "mvbr0"', fallback.network.bridge, fail),
      subnet: subnet(network.subnet, 'network.subnet', fallback.network.subnet, fail),
      dns: nameserver(network.dns, 'network.dns', fallback.network.dns, fail),
    },
  };

  // Defaults above the limits would make every create without explicit sizes fail.
  if (config.defaults.vcpus !== undefined && config.defaults.vcpus > config.limits.maxVcpusPerSandbox) {
    fail('defaults.vcpus', `(${config.defaults.vcpus}) exceeds limits.maxVcpusPerSandbox (${config.limits.maxVcpusPerSandbox})`);
  }
  if (config.defaults.memoryMiB !== undefined && config.defaults.memoryMiB > config.limits.maxMemoryMiBPerSandbox) {
    fail(
      'defaults.memoryMiB',
      `(${config.defaults.memoryMiB}) exceeds limits.maxMemoryMiBPerSandbox (${config.limits.maxMemoryMiBPerSandbox})`,
    );
  }
  return deepFreeze(config);
}

type Fail = (key: string, problem: string) => never;

function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'string') return `the string ${JSON.stringify(value)}`;
  if (typeof value === 'object') return 'an object';
  return `${typeof value} ${String(value)}`;
}

function objectAt(value: unknown, key: string, fail: Fail): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return fail(key, `must be an object, got ${describeValue(value)}`);
  }
  return value as Record<string, unknown>;
}

function rejectUnknownKeys(given: Record<string, unknown>, known: object, prefix: string, fail: Fail): void {
  for (const key of Object.keys(given)) {
    if (!Object.hasOwn(known, key)) {
      fail(`${prefix}${key}`, `is not a known key (known keys${prefix ? ` in ${prefix.slice(0, -1)}` : ''}: ${Object.keys(known).join(', ')})`);
    }
  }
}

function oneOf<T extends string>(value: unknown, key: string, allowed: readonly T[], fallback: T, fail: Fail): T {
  if (value === undefined) return fallback;
  if (typeof value !== 'string' || !(allowed as readonly string[]).includes(value)) {
    return fail(key, `must be one of ${allowed.map((a) => `"${a}"`).join(', ')}, got ${describeValue(value)}`);
  }
  return value as T;
}

function nonEmptyString(value: unknown, key: string, fallback: string, fail: Fail): string {
  if (value === undefined) return fallback;
  if (typeof value !== 'string' || value.trim() === '') return fail(key, `must be a non-empty string, got ${describeValue(value)}`);
  return value;
}

function wholeNumber(value: unknown, key: string, min: number, fallback: number, fail: Fail): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min) {
    return fail(key, `must be a whole number of at least ${min}, got ${describeValue(value)}`);
  }
  return value;
}

function matching(value: unknown, key: string, pattern: RegExp, expected: string, fallback: string, fail: Fail): string {
  if (value === undefined) return fallback;
  if (typeof value !== 'string' || !pattern.test(value)) return fail(key, `must be ${expected}, got ${describeValue(value)}`);
  return value;
}

function subnet(value: unknown, key: string, fallback: string, fail: Fail): string {
  if (value === undefined) return fallback;
  if (typeof value !== 'string') return fail(key, `must be an IPv4 CIDR such as "10.213.0.0/24", got ${describeValue(value)}`);
  const parsed = bridgeSubnet(value);
  return 'error' in parsed ? fail(key, parsed.error) : parsed.text;
}

function nameserver(value: unknown, key: string, fallback: string, fail: Fail): string {
  if (value === undefined) return fallback;
  if (value === 'auto' || (typeof value === 'string' && parseIpv4(value) !== null)) return value;
  return fail(key, `must be "auto" or an IPv4 address, got ${describeValue(value)}`);
}

function boolean(value: unknown, key: string, fallback: boolean, fail: Fail): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean') return fail(key, `must be true or false, got ${describeValue(value)}`);
  return value;
}

function deepFreeze<T extends object>(value: T): T {
  for (const child of Object.values(value)) {
    if (typeof child === 'object' && child !== null) deepFreeze(child);
  }
  return Object.freeze(value);
}

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { defaultConfigPath, loadAppConfig } from '../../../src/main/core/config/app-config.js';

let dir: string;
let file: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'microvm-config-'));
  file = join(dir, 'config.json');
});

afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

function loadText(text: string) {
  writeFileSync(file, text);
  return loadAppConfig(file);
}

function configError(json: unknown): Error & { code?: string; details?: Record<string, unknown> } {
  try {
    loadText(JSON.stringify(json));
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected the config to be refused');
}

describe('loadAppConfig', () => {
  it('lives in the config directory by default', () => {
    expect(defaultConfigPath({ MICROVM_DATA_DIR: '/srv/m' })).toBe('/srv/m/config/config.json');
  });

  it('uses the documented defaults when the file is missing', () => {
    expect(loadAppConfig(join(dir, 'absent.json'))).toEqual({
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
  });

  it('takes a network section', () => {
    expect(loadText(JSON.stringify({ network: { backend: 'user', subnet: '10.99.0.0/16', dns: '192.0.2.53' } })).network).toEqual({
      backend: 'user',
      bridge: 'mvbr0',
      subnet: '10.99.0.0/16',
      dns: '192.0.2.53',
    });
  });

  it('takes given keys and fills the rest, nested sections included', () => {
    const config = loadText(
      JSON.stringify({ hypervisor: 'qemu', qemuBinary: '/opt/qemu/bin/qemu', limits: { maxSandboxes: 4, memoryReserveMiB: 0 } }),
    );
    expect(config.hypervisor).toBe('qemu');
    expect(config.qemuBinary).toBe('/opt/qemu/bin/qemu');
    expect(config.cloudHypervisorBinary).toBe('cloud-hypervisor');
    expect(config.limits).toMatchObject({ maxSandboxes: 4, memoryReserveMiB: 0, maxMemoryMiBPerSandbox: 8192 });
    // Unset sizes come from the chosen template's definition, and "auto" picks the template.
    expect(config.defaults).toEqual({ template: 'auto' });
  });

  it('returns a frozen config, all the way down', () => {
    const config = loadText('{}');
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.limits)).toBe(true);
    expect(Object.isFrozen(config.defaults)).toBe(true);
  });

  it('refuses malformed JSON, naming the file', () => {
    expect(() => loadText('{"hypervisor": "qemu",}')).toThrow(expect.objectContaining({ code: 'invalid_config' }));
    expect(() => loadText('{"hypervisor": "qemu",}')).toThrow(`${file} is not valid JSON`);
    expect(() => loadText('')).toThrow(`${file} is not valid JSON`);
  });

  it('refuses a file that is not a JSON object', () => {
    const err = configError([1, 2]);
    expect(err.code).toBe('invalid_config');
    expect(err.message).toBe(`${file}: the top level must be an object, got an array`);
  });

  it.each([
    [{ hypervisr: 'qemu' }, 'hypervisr'],
    [{ limits: { maxSandbox: 3 } }, 'limits.maxSandbox'],
    [{ defaults: { memory: 512 } }, 'defaults.memory'],
    [{ snapshots: { keep: 3 } }, 'snapshots.keep'],
  ])('refuses the unknown key in %j, naming it', (json, key) => {
    const err = configError(json);
    expect(err.code).toBe('invalid_config');
    expect(err.message).toContain(`${file}: ${key} is not a known key`);
    expect(err.details).toMatchObject({ file, key });
  });

  it('lists the known keys of the section that has the typo', () => {
    expect(configError({ limits: { maxSandbox: 3 } }).message).toContain(
      'known keys in limits: maxSandboxes, maxVcpusPerSandbox, maxMemoryMiBPerSandbox, memoryReserveMiB',
    );
  });

  it.each([
    [{ hypervisor: 'firecracker' }, 'hypervisor', 'must be one of "auto", "cloud-hypervisor", "qemu", got the string "firecracker"'],
    [{ hypervisor: null }, 'hypervisor', 'got null'],
    [{ cloudHypervisorBinary: '' }, 'cloudHypervisorBinary', 'must be a non-empty string'],
    [{ qemuBinary: 42 }, 'qemuBinary', 'must be a non-empty string, got number 42'],
    [{ limits: 5 }, 'limits', 'must be an object, got number 5'],
    [{ limits: { maxSandboxes: 0 } }, 'limits.maxSandboxes', 'must be a whole number of at least 1, got number 0'],
    [{ limits: { maxSandboxes: '32' } }, 'limits.maxSandboxes', 'got the string "32"'],
    [{ limits: { maxVcpusPerSandbox: 1.5 } }, 'limits.maxVcpusPerSandbox', 'must be a whole number'],
    [{ limits: { maxMemoryMiBPerSandbox: 8 } }, 'limits.maxMemoryMiBPerSandbox', 'at least 64'],
    [{ limits: { memoryReserveMiB: -1 } }, 'limits.memoryReserveMiB', 'at least 0, got number -1'],
    [{ defaults: [] }, 'defaults', 'must be an object, got an array'],
    [{ defaults: { vcpus: 0 } }, 'defaults.vcpus', 'at least 1'],
    [{ defaults: { memoryMiB: 32 } }, 'defaults.memoryMiB', 'at least 64'],
    [{ defaults: { template: ' ' } }, 'defaults.template', 'must be a non-empty string'],
    [{ snapshots: { keepPerSandbox: 0 } }, 'snapshots.keepPerSandbox', 'at least 1'],
    [{ snapshots: { maxTotalMiB: -5 } }, 'snapshots.maxTotalMiB', 'at least 0'],
    [{ snapshots: { warmStart: 'yes' } }, 'snapshots.warmStart', 'must be true or false, got the string "yes"'],
    [{ network: { backend: 'slirp' } }, 'network.backend', 'must be one of "auto", "tap", "user", got the string "slirp"'],
    [{ network: { bridge: 'br0' } }, 'network.bridge', 'must be "mvbr" and 1-4 digits, e.g. "mvbr0", got the string "br0"'],
    [{ network: { subnet: '10.213.0.5/24' } }, 'network.subnet', '"10.213.0.5/24" has host bits set: did you mean 10.213.0.0/24?'],
    [{ network: { subnet: '10.213.0.0/30' } }, 'network.subnet', 'must have a prefix between /8 and /29'],
    [{ network: { dns: 'localhost' } }, 'network.dns', 'must be "auto" or an IPv4 address, got the string "localhost"'],
    [{ network: { mode: 'nat' } }, 'network.mode', 'is not a known key (known keys in network: backend, bridge, subnet, dns)'],
    [{ limits: { maxVcpusPerSandbox: 2 }, defaults: { vcpus: 3 } }, 'defaults.vcpus', '(3) exceeds limits.maxVcpusPerSandbox (2)'],
    [{ limits: { maxMemoryMiBPerSandbox: 128 }, defaults: { memoryMiB: 256 } }, 'defaults.memoryMiB', '(256) exceeds limits.maxMemoryMiBPerSandbox (128)'],
  ])('refuses %j, naming %s', (json, key, problem) => {
    const err = configError(json);
    expect(err.code).toBe('invalid_config');
    expect(err.message).toContain(`${file}: ${key} `);
    expect(err.message).toContain(problem);
    expect(err.details).toMatchObject({ file, key });
  });

  it('reports an unreadable config file as invalid, naming it', () => {
    expect(() => loadAppConfig(dir)).toThrow(expect.objectContaining({ code: 'invalid_config', message: expect.stringContaining(`${dir} cannot be read`) }));
  });
});

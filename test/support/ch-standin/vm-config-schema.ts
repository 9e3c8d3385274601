/**
 * CH's VmConfig, hand-copied from the official OpenAPI file (cloud-hypervisor.yaml,
 * `components.schemas`) for the parts the driver sends; the rest of VmConfig is listed so
 * its names are known, but not checked in depth. Stricter than CH in one way on purpose:
 * unknown fields are rejected (CH silently ignores them), so a misspelt field name in the
 * driver fails a test instead of being dropped on a user's machine.
 */
export type Schema =
  | { type: 'string' }
  | { type: 'integer'; minimum?: number }
  | { type: 'boolean' }
  | { type: 'enum'; values: readonly string[] }
  | { type: 'object'; required?: readonly string[]; properties: Record<string, Schema> }
  | { type: 'array'; items: Schema }
  /** A VmConfig part the driver does not send: only its JSON type is checked. */
  | { type: 'unchecked'; json: 'object' | 'array' };

const string: Schema = { type: 'string' };
const boolean: Schema = { type: 'boolean' };
const integer: Schema = { type: 'integer' };
const unsignedInteger = (minimum = 0): Schema => ({ type: 'integer', minimum });
const uncheckedObject: Schema = { type: 'unchecked', json: 'object' };
const uncheckedArray: Schema = { type: 'unchecked', json: 'array' };

const consoleMode: Schema = { type: 'enum', values: ['Off', 'Pty', 'Tty', 'File', 'Socket', 'Null'] };

const payloadConfig: Schema = {
  type: 'object',
  properties: { firmware: string, kernel: string, cmdline: string, initramfs: string, igvm: string, host_data: string },
};

const cpusConfig: Schema = {
  type: 'object',
  required: ['boot_vcpus', 'max_vcpus'],
  properties: {
    boot_vcpus: unsignedInteger(1),
    max_vcpus: unsignedInteger(1),
    topology: uncheckedObject,
    kvm_hyperv: boolean,
    max_phys_bits: integer,
    nested: boolean,
    affinity: uncheckedArray,
    features: uncheckedObject,
    core_scheduling: { type: 'enum', values: ['Vm', 'Vcpu', 'Off'] },
  },
};

const memoryConfig: Schema = {
  type: 'object',
  required: ['size'],
  properties: {
    size: unsignedInteger(),
    hotplug_size: unsignedInteger(),
    hotplugged_size: unsignedInteger(),
    mergeable: boolean,
    hotplug_method: string,
    shared: boolean,
    hugepages: boolean,
    hugepage_size: unsignedInteger(),
    prefault: boolean,
    reserve: boolean,
    thp: boolean,
    zones: uncheckedArray,
  },
};

const pciDevice = { iommu: boolean, id: string, pci_segment: unsignedInteger(), pci_device_id: unsignedInteger() };

const rngConfig: Schema = { type: 'object', required: ['src'], properties: { src: string, ...pciDevice } };

const consoleConfig: Schema = {
  type: 'object',
  required: ['mode'],
  properties: { file: string, socket: string, mode: consoleMode, ...pciDevice },
};

const serialConfig: Schema = {
  type: 'object',
  required: ['mode'],
  properties: { file: string, socket: string, mode: consoleMode },
};

const imageType: Schema = { type: 'enum', values: ['FlatVmdk', 'FixedVhd', 'Qcow2', 'Raw', 'Vhdx', 'Unknown'] };

/** OpenAPI `DiskConfig` (v53). */
const diskConfig: Schema = {
  type: 'object',
  properties: {
    path: string,
    readonly: boolean,
    direct: boolean,
    iommu: boolean,
    num_queues: unsignedInteger(1),
    queue_size: unsignedInteger(1),
    vhost_user: boolean,
    vhost_socket: string,
    rate_limiter_config: uncheckedObject,
    pci_segment: unsignedInteger(),
    pci_device_id: unsignedInteger(),
    id: string,
    serial: string,
    rate_limit_group: string,
    queue_affinity: uncheckedArray,
    backing_files: boolean,
    sparse: boolean,
    image_type: imageType,
    lock_granularity: { type: 'enum', values: ['ByteRange', 'Full'] },
  },
};

const vsockConfig: Schema = {
  type: 'object',
  required: ['cid', 'socket'],
  properties: { cid: unsignedInteger(3), socket: string, ...pciDevice },
};

export const vmConfigSchema: Schema = {
  type: 'object',
  required: ['payload'],
  properties: {
    cpus: cpusConfig,
    memory: memoryConfig,
    payload: payloadConfig,
    rate_limit_groups: uncheckedArray,
    disks: { type: 'array', items: diskConfig },
    net: uncheckedArray,
    rng: rngConfig,
    balloon: uncheckedObject,
    fs: uncheckedArray,
    generic_vhost_user: uncheckedArray,
    pmem: uncheckedArray,
    serial: serialConfig,
    console: consoleConfig,
    debug_console: uncheckedObject,
    devices: uncheckedArray,
    user_devices: uncheckedArray,
    vdpa: uncheckedArray,
    vsock: vsockConfig,
    numa: uncheckedArray,
    iommu: boolean,
    watchdog: boolean,
    rtc: uncheckedObject,
    pvpanic: boolean,
    pci_segments: uncheckedArray,
    platform: uncheckedObject,
    tpm: uncheckedObject,
    landlock_enable: boolean,
    landlock_rules: uncheckedArray,
  },
};

/** The first mismatch, worded like serde's messages, or null when the value fits. */
export function schemaError(value: unknown, schema: Schema, path = 'VmConfig'): string | null {
  switch (schema.type) {
    case 'string':
      return typeof value === 'string' ? null : `${path}: invalid type: ${describe(value)}, expected a string`;
    case 'boolean':
      return typeof value === 'boolean' ? null : `${path}: invalid type: ${describe(value)}, expected a boolean`;
    case 'integer':
      if (typeof value !== 'number' || !Number.isInteger(value)) return `${path}: invalid type: ${describe(value)}, expected an integer`;
      return schema.minimum !== undefined && value < schema.minimum ? `${path}: invalid value: ${value}, expected at least ${schema.minimum}` : null;
    case 'enum':
      return typeof value === 'string' && schema.values.includes(value)
        ? null
        : `${path}: unknown variant ${describe(value)}, expected one of ${schema.values.map((v) => `\`${v}\``).join(', ')}`;
    case 'array': {
      if (!Array.isArray(value)) return `${path}: invalid type: ${describe(value)}, expected a sequence`;
      for (const [i, item] of value.entries()) {
        const error = schemaError(item, schema.items, `${path}[${i}]`);
        if (error) return error;
      }
      return null;
    }
    case 'unchecked':
      return (schema.json === 'array' ? Array.isArray(value) : isObject(value)) ? null : `${path}: invalid type: ${describe(value)}, expected an ${schema.json}`;
    case 'object': {
      if (!isObject(value)) return `${path}: invalid type: ${describe(value)}, expected a map`;
      for (const field of schema.required ?? []) {
        if (!(field in value)) return `${path}: missing field \`${field}\``;
      }
      for (const [field, fieldValue] of Object.entries(value)) {
        const fieldSchema = schema.properties[field];
        if (!fieldSchema) {
          return `${path}: unknown field \`${field}\`, expected one of ${Object.keys(schema.properties).map((f) => `\`${f}\``).join(', ')}`;
        }
        const error = schemaError(fieldValue, fieldSchema, `${path}.${field}`);
        if (error) return error;
      }
      return null;
    }
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'sequence';
  if (typeof value === 'object') return 'map';
  return `${typeof value} ${JSON.stringify(value)}`;
}

import { Type, type Static } from 'typebox';

/** The lifecycle states a sandbox can be in; the store and the API use this one list. */
export const SANDBOX_STATES = ['creating', 'running', 'paused', 'stopping', 'stopped', 'crashed', 'error'] as const;
export type SandboxState = (typeof SANDBOX_STATES)[number];

export const HYPERVISOR_KINDS = ['qemu', 'cloud-hypervisor'] as const;
export type HypervisorKind = (typeof HYPERVISOR_KINDS)[number];

const Timestamp = Type.String({ format: 'date-time', description: 'ISO 8601, UTC' });

/** `none`: no NIC at all. `nat`: one NIC with a private address and outbound access (docs/networking.md). */
export const NETWORK_MODES = ['none', 'nat'] as const;
export type NetworkMode = (typeof NETWORK_MODES)[number];

const Cidr = Type.String({ description: 'IPv4 CIDR, e.g. 203.0.113.0/24', maxLength: 18 });
const CidrList = Type.Array(Cidr, { maxItems: 64 });

export const EgressSchema = Type.Object(
  {
    allow: CidrList,
    deny: CidrList,
  },
  {
    additionalProperties: false,
    description: 'What a nat sandbox may reach, enforced on the host: deny wins; a non-empty allow list permits only its CIDRs; an empty one permits all not denied',
  },
);
export type Egress = Static<typeof EgressSchema>;

const EgressBody = Type.Object(
  { allow: Type.Optional(CidrList), deny: Type.Optional(CidrList) },
  { additionalProperties: false, description: 'Egress policy of a nat sandbox; an omitted list is empty' },
);

export const SandboxSchema = Type.Object(
  {
    id: Type.String({ description: 'Stable id (UUID)' }),
    name: Type.String({ description: 'Unique name; also the guest hostname' }),
    template: Type.String(),
    hypervisor: Type.Enum(HYPERVISOR_KINDS),
    vcpus: Type.Integer(),
    memoryMiB: Type.Integer(),
    diskMiB: Type.Optional(Type.Integer({ description: "Size of the sandbox's copy-on-write disk; absent for templates without a disk (minimal)" })),
    labels: Type.Record(Type.String(), Type.String()),
    network: Type.Enum(NETWORK_MODES, { description: 'none: no NIC; nat: outbound access from a private address' }),
    egress: EgressSchema,
    state: Type.Enum(SANDBOX_STATES),
    stateReason: Type.Union([Type.String(), Type.Null()], { description: 'Why the sandbox entered its current state' }),
    currentSnapshotId: Type.Union([Type.String(), Type.Null()], { description: 'Its position in its snapshot tree: the snapshot its state descends from' }),
    createdAt: Timestamp,
    updatedAt: Timestamp,
  },
  { additionalProperties: false },
);
export type Sandbox = Static<typeof SandboxSchema>;

export const SandboxListSchema = Type.Object({ sandboxes: Type.Array(SandboxSchema) });
export type SandboxList = Static<typeof SandboxListSchema>;

export const CreateSandboxBodySchema = Type.Object(
  {
    name: Type.Optional(Type.String({ description: 'DNS label (1-63 of a-z, 0-9, -); generated when omitted' })),
    template: Type.Optional(Type.String({ description: 'Template to boot; the configured default when omitted' })),
    vcpus: Type.Optional(Type.Integer({ minimum: 1 })),
    memoryMiB: Type.Optional(Type.Integer({ minimum: 64 })),
    diskMiB: Type.Optional(
      Type.Integer({ minimum: 1, description: "Disk size in MiB for templates with a disk: at least the image's size; the guest's file system grows to it. The template's default when omitted" }),
    ),
    labels: Type.Optional(Type.Record(Type.String(), Type.String())),
    hypervisor: Type.Optional(Type.Enum(['auto', ...HYPERVISOR_KINDS])),
    network: Type.Optional(Type.Enum(NETWORK_MODES, { description: 'none (the default) or nat' })),
    egress: Type.Optional(EgressBody),
  },
  { additionalProperties: false },
);
export type CreateSandboxBody = Static<typeof CreateSandboxBodySchema>;

export const SandboxParamsSchema = Type.Object({
  id: Type.String({ minLength: 1, description: 'Sandbox id or name' }),
});
export type SandboxParams = Static<typeof SandboxParamsSchema>;

export const StopBodySchema = Type.Object(
  { timeoutMs: Type.Optional(Type.Integer({ minimum: 0, maximum: 600_000, description: 'How long the guest gets to power off' })) },
  { additionalProperties: false },
);
export type StopBody = Static<typeof StopBodySchema>;

export const NetworkBodySchema = Type.Object(
  {
    network: Type.Optional(Type.Enum(NETWORK_MODES)),
    egress: Type.Optional(EgressBody),
  },
  { additionalProperties: false, description: 'The new network settings; an omitted field keeps its value (switching to none clears the policy)' },
);
export type NetworkBody = Static<typeof NetworkBodySchema>;

import { Type, type Static } from 'typebox';
import { HYPERVISOR_KINDS } from './sandbox-schemas.js';

export const VersionSchema = Type.Object({
  version: Type.String(),
  apiVersion: Type.Literal('v1'),
  agentProtocol: Type.Integer(),
  node: Type.String(),
});
export type Version = Static<typeof VersionSchema>;

export const HealthSchema = Type.Object({
  status: Type.Literal('ok'),
  uptimeMs: Type.Integer(),
  sandboxes: Type.Integer(),
  pid: Type.Optional(Type.Integer({ description: "The daemon's process id" })),
  url: Type.Optional(Type.Union([Type.String(), Type.Null()], { description: 'Where the daemon also listens on TCP (and serves the UI in browser mode); null when only on its Unix socket' })),
});
export type Health = Static<typeof HealthSchema>;

export const SystemInfoSchema = Type.Object({
  version: Type.String(),
  hypervisor: Type.Object({
    configured: Type.String({ description: "The config's choice: auto or a hypervisor" }),
    chosen: Type.Union([Type.Enum(HYPERVISOR_KINDS), Type.Null()], { description: 'What a new sandbox gets' }),
    reason: Type.String(),
    kvm: Type.Boolean({ description: 'KVM really runs guests here' }),
    qemuAccel: Type.String(),
  }),
  limits: Type.Object({
    maxSandboxes: Type.Integer(),
    maxVcpusPerSandbox: Type.Integer(),
    maxMemoryMiBPerSandbox: Type.Integer(),
    memoryReserveMiB: Type.Integer(),
  }),
  host: Type.Object({
    cpus: Type.Integer(),
    memoryTotalMiB: Type.Integer(),
    memoryAvailableMiB: Type.Integer(),
    diskFreeBytes: Type.Integer({ description: 'Free space where images and sandboxes are kept' }),
  }),
});
export type SystemInfo = Static<typeof SystemInfoSchema>;

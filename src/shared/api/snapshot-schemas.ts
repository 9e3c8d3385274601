import { Type, type Static } from 'typebox';
import { HYPERVISOR_KINDS, SandboxSchema } from './sandbox-schemas.js';

export const SnapshotSchema = Type.Object(
  {
    id: Type.String(),
    sandboxId: Type.String({ description: 'The sandbox the state was taken from' }),
    parentId: Type.Union([Type.String(), Type.Null()], { description: 'The snapshot this state descends from; another sandbox\'s for the first snapshot of a fork' }),
    name: Type.String(),
    description: Type.String(),
    createdAt: Type.String({ format: 'date-time' }),
    hypervisor: Type.Enum(HYPERVISOR_KINDS),
    vmmVersion: Type.String(),
    template: Type.String(),
    vcpus: Type.Integer(),
    memoryMiB: Type.Integer(),
    stateBytes: Type.Integer({ description: 'Saved memory and device state on disk' }),
    diskBytes: Type.Integer(),
    pauseMs: Type.Number({ description: 'How long the guest was paused for the capture' }),
    files: Type.Array(Type.Object({ name: Type.String(), size: Type.Integer(), sha256: Type.String() }), { description: 'Checked before every restore' }),
    thumbnail: Type.Union([Type.String(), Type.Null()], { description: 'A screenshot, for sandboxes with a display' }),
    current: Type.Boolean({ description: "The sandbox's current state descends directly from this snapshot" }),
  },
  { additionalProperties: false },
);
export type Snapshot = Static<typeof SnapshotSchema>;

export const SnapshotTreeSchema = Type.Object({
  sandboxId: Type.String(),
  current: Type.Union([Type.String(), Type.Null()], { description: 'Where the sandbox is in its tree; null before its first snapshot' }),
  snapshots: Type.Array(SnapshotSchema, { description: 'Oldest first; parentId links make the tree' }),
});
export type SnapshotTree = Static<typeof SnapshotTreeSchema>;

export const CreateSnapshotBodySchema = Type.Object(
  {
    name: Type.Optional(Type.String({ minLength: 1, maxLength: 64, description: 'Unique per sandbox; generated (snap-N) when omitted' })),
    description: Type.Optional(Type.String({ maxLength: 1000 })),
  },
  { additionalProperties: false },
);
export type CreateSnapshotBody = Static<typeof CreateSnapshotBodySchema>;

export const TakenSnapshotSchema = Type.Object({
  snapshot: SnapshotSchema,
  deleted: Type.Array(Type.String(), { description: 'Snapshots retention deleted to stay within the limits' }),
  retentionNote: Type.Union([Type.String(), Type.Null()], { description: 'Set when snapshots over the limits were kept because the current state descends from them' }),
});
export type TakenSnapshot = Static<typeof TakenSnapshotSchema>;

export const SnapshotParamsSchema = Type.Object({ snapshotId: Type.String({ minLength: 1 }) });
export type SnapshotParams = Static<typeof SnapshotParamsSchema>;

export const ForkBodySchema = Type.Object(
  {
    names: Type.Optional(Type.Array(Type.String(), { minItems: 1, maxItems: 16, description: 'One new sandbox per name' })),
    count: Type.Optional(Type.Integer({ minimum: 1, maximum: 16, description: 'How many, with generated names' })),
  },
  { additionalProperties: false },
);
export type ForkBody = Static<typeof ForkBodySchema>;

export const ForkResultSchema = Type.Object({ sandboxes: Type.Array(SandboxSchema) });
export type ForkResult = Static<typeof ForkResultSchema>;

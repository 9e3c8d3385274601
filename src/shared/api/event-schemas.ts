import { Type, type Static } from 'typebox';
import { SANDBOX_STATES } from './sandbox-schemas.js';

/** What the events stream (SSE or WebSocket) and the manager announce. */
export const SandboxEventSchema = Type.Union([
  Type.Object({
    type: Type.Literal('state'),
    id: Type.String(),
    name: Type.String(),
    state: Type.Enum(SANDBOX_STATES),
    reason: Type.Union([Type.String(), Type.Null()]),
    at: Type.Integer({ description: 'Unix milliseconds' }),
  }),
  Type.Object({
    type: Type.Literal('progress'),
    id: Type.String({ description: 'Empty while no sandbox exists yet (image builds)' }),
    name: Type.String(),
    step: Type.String(),
    message: Type.String(),
    fraction: Type.Optional(Type.Number({ minimum: 0, maximum: 1 })),
  }),
  Type.Object({
    type: Type.Literal('snapshot'),
    id: Type.String({ description: 'The sandbox' }),
    name: Type.String(),
    action: Type.Enum(['created', 'restored', 'deleted']),
    snapshotId: Type.String(),
    snapshotName: Type.String(),
    at: Type.Integer({ description: 'Unix milliseconds' }),
  }),
]);
export type SandboxEvent = Static<typeof SandboxEventSchema>;

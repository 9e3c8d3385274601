import { Type } from 'typebox';
import { ProblemSchema } from '../../../shared/api/problem-schema.js';
import { SandboxParamsSchema, SandboxSchema } from '../../../shared/api/sandbox-schemas.js';
import {
  CreateSnapshotBodySchema,
  ForkBodySchema,
  ForkResultSchema,
  SnapshotParamsSchema,
  SnapshotSchema,
  SnapshotTreeSchema,
  TakenSnapshotSchema,
} from '../../../shared/api/snapshot-schemas.js';
import type { ApiApp, ApiServices } from '../api-context.js';
import { missingBodyIsEmpty } from '../optional-body.js';
import { sandboxView } from '../sandbox-view.js';
import { snapshotView } from '../snapshot-view.js';

const tags = ['snapshots'];
const errors = { 400: ProblemSchema, 404: ProblemSchema, 409: ProblemSchema };

export function registerSnapshotRoutes(app: ApiApp, { manager }: ApiServices): void {
  app.get(
    '/sandboxes/:id/snapshots',
    { schema: { tags, summary: "A sandbox's snapshot tree, its current position marked", params: SandboxParamsSchema, response: { 200: SnapshotTreeSchema, 404: ProblemSchema } } },
    async (request) => {
      const sandbox = manager.get(request.params.id);
      const tree = manager.snapshotTree(sandbox.id);
      return { sandboxId: sandbox.id, current: tree.current, snapshots: tree.snapshots.map((s) => snapshotView(s, tree.current)) };
    },
  );

  app.post(
    '/sandboxes/:id/snapshots',
    {
      schema: {
        tags,
        summary: 'Snapshot a running or paused sandbox (memory, devices, disks); the guest pauses only for the capture',
        params: SandboxParamsSchema,
        body: CreateSnapshotBodySchema,
        response: { 201: TakenSnapshotSchema, ...errors, 507: ProblemSchema },
      },
      preValidation: missingBodyIsEmpty,
    },
    async (request, reply) => {
      const taken = await manager.snapshot(request.params.id, request.body);
      return reply.code(201).send({
        snapshot: snapshotView(taken.snapshot, taken.snapshot.id),
        deleted: taken.deleted.map((s) => s.id),
        retentionNote: taken.retentionNote,
      });
    },
  );

  app.get(
    '/snapshots/:snapshotId',
    { schema: { tags, summary: 'One snapshot', params: SnapshotParamsSchema, response: { 200: SnapshotSchema, 404: ProblemSchema } } },
    async (request) => {
      const snapshot = manager.getSnapshot(request.params.snapshotId);
      return snapshotView(snapshot, manager.snapshotTree(snapshot.sandboxId).current);
    },
  );

  app.post(
    '/snapshots/:snapshotId/restore',
    {
      schema: {
        tags,
        summary: 'Backtrack the snapshot\'s sandbox to it: files, processes and memory. Verified first; a corrupt snapshot is refused (422) with the sandbox untouched',
        params: SnapshotParamsSchema,
        response: { 200: SandboxSchema, ...errors, 422: ProblemSchema },
      },
    },
    async (request) => {
      const snapshot = manager.getSnapshot(request.params.snapshotId);
      return sandboxView(await manager.restoreSnapshot(snapshot.sandboxId, snapshot.id));
    },
  );

  app.post(
    '/snapshots/:snapshotId/fork',
    {
      schema: {
        tags,
        summary: 'New sandboxes from a snapshot, running beside the original with their own identity',
        params: SnapshotParamsSchema,
        body: ForkBodySchema,
        response: { 201: ForkResultSchema, ...errors, 422: ProblemSchema, 429: ProblemSchema, 507: ProblemSchema },
      },
      preValidation: missingBodyIsEmpty,
    },
    async (request, reply) => {
      const forks = await manager.fork(request.params.snapshotId, request.body);
      return reply.code(201).send({ sandboxes: forks.map(sandboxView) });
    },
  );

  app.delete(
    '/snapshots/:snapshotId',
    { schema: { tags, summary: 'Delete a snapshot; its children and any sandbox positioned on it move to its parent', params: SnapshotParamsSchema, response: { 204: Type.Null(), 404: ProblemSchema } } },
    async (request, reply) => {
      await manager.deleteSnapshot(request.params.snapshotId);
      return reply.code(204).send(null);
    },
  );
}

import { Type } from 'typebox';
import { AddPortBodySchema, PortForwardListSchema, PortForwardSchema, PortParamsSchema } from '../../../shared/api/port-schemas.js';
import { ProblemSchema } from '../../../shared/api/problem-schema.js';
import { SandboxParamsSchema } from '../../../shared/api/sandbox-schemas.js';
import type { ApiApp, ApiServices } from '../api-context.js';

const tags = ['ports'];

/** Port forwarding host → guest (docs/networking.md): listed, opened and closed per sandbox. */
export function registerPortRoutes(app: ApiApp, { ports }: ApiServices): void {
  app.get('/ports', { schema: { tags, summary: "Every sandbox's port forwards", response: { 200: PortForwardListSchema } } }, async () => ({ ports: ports.list() }));

  app.get(
    '/sandboxes/:id/ports',
    { schema: { tags, summary: "A sandbox's port forwards", params: SandboxParamsSchema, response: { 200: PortForwardListSchema, 404: ProblemSchema } } },
    async (request) => ({ ports: ports.list(request.params.id) }),
  );

  app.post(
    '/sandboxes/:id/ports',
    {
      schema: {
        tags,
        summary: 'Forward a host port (127.0.0.1 unless told otherwise) to a TCP port inside the guest, through the agent; works in every network mode',
        params: SandboxParamsSchema,
        body: AddPortBodySchema,
        response: { 201: PortForwardSchema, 400: ProblemSchema, 404: ProblemSchema, 409: ProblemSchema },
      },
    },
    async (request, reply) => reply.code(201).send(await ports.add(request.params.id, request.body)),
  );

  app.delete(
    '/sandboxes/:id/ports/:hostPort',
    {
      schema: {
        tags,
        summary: 'Close a port forward and its open connections; the host port is free once this answers',
        params: PortParamsSchema,
        response: { 204: Type.Null(), 404: ProblemSchema },
      },
    },
    async (request, reply) => {
      await ports.remove(request.params.id, request.params.hostPort);
      return reply.code(204).send(null);
    },
  );
}

import { Type } from 'typebox';
import { ProblemSchema } from '../../../shared/api/problem-schema.js';
import {
  CreateSandboxBodySchema,
  NetworkBodySchema,
  SandboxListSchema,
  SandboxParamsSchema,
  SandboxSchema,
  StopBodySchema,
} from '../../../shared/api/sandbox-schemas.js';
import type { ApiApp, ApiServices } from '../api-context.js';
import { missingBodyIsEmpty } from '../optional-body.js';
import { sandboxView } from '../sandbox-view.js';

const tags = ['sandboxes'];
const errors = { 400: ProblemSchema, 404: ProblemSchema, 409: ProblemSchema };

export function registerSandboxRoutes(app: ApiApp, { manager }: ApiServices): void {
  app.get('/sandboxes', { schema: { tags, summary: 'List sandboxes', response: { 200: SandboxListSchema } } }, async () => ({
    sandboxes: manager.list().map(sandboxView),
  }));

  app.post(
    '/sandboxes',
    {
      schema: {
        tags,
        summary: 'Create a sandbox and boot it; answers once its agent is ready',
        body: CreateSandboxBodySchema,
        response: { 201: SandboxSchema, ...errors, 429: ProblemSchema, 507: ProblemSchema },
      },
      preValidation: missingBodyIsEmpty,
    },
    async (request, reply) => reply.code(201).send(sandboxView(await manager.create(request.body))),
  );

  app.get(
    '/sandboxes/:id',
    { schema: { tags, summary: 'Get a sandbox by id or name', params: SandboxParamsSchema, response: { 200: SandboxSchema, 404: ProblemSchema } } },
    async (request) => sandboxView(manager.get(request.params.id)),
  );

  app.delete(
    '/sandboxes/:id',
    { schema: { tags, summary: 'Destroy a sandbox: end its VM and delete everything it owns', params: SandboxParamsSchema, response: { 204: Type.Null(), 404: ProblemSchema } } },
    async (request, reply) => {
      await manager.destroy(request.params.id);
      return reply.code(204).send(null);
    },
  );

  const action = (verb: string, summary: string, act: (id: string, timeoutMs?: number) => Promise<unknown>) =>
    app.post(
      `/sandboxes/:id/${verb}`,
      { schema: { tags, summary, params: SandboxParamsSchema, body: StopBodySchema, response: { 200: SandboxSchema, ...errors } }, preValidation: missingBodyIsEmpty },
      async (request) => {
        await act(request.params.id, request.body.timeoutMs);
        return sandboxView(manager.get(request.params.id));
      },
    );
  action('start', 'Boot a stopped sandbox', (id) => manager.start(id));
  action('stop', 'Power the guest off (timeoutMs, then the VMM is ended)', (id, timeoutMs) => manager.stop(id, { timeoutMs }));
  action('pause', 'Pause the VM (its vCPUs stop, memory stays)', (id) => manager.pause(id));
  action('resume', 'Resume a paused VM', (id) => manager.resume(id));
  action('restart', 'Stop, then start', (id, timeoutMs) => manager.restart(id, { timeoutMs }));

  for (const method of ['PATCH', 'POST'] as const) {
    app.route({
      method,
      url: '/sandboxes/:id/network',
      schema: {
        tags,
        summary: 'Change the network mode or egress policy of a stopped sandbox',
        params: SandboxParamsSchema,
        body: NetworkBodySchema,
        response: { 200: SandboxSchema, ...errors, 503: ProblemSchema },
      },
      handler: async (request) => sandboxView(await manager.setNetwork(request.params.id, request.body)),
    });
  }
}

import { ComputerActionSchema, ComputerResultSchema } from '../../../shared/api/computer-schemas.js';
import { ByteStreamSchema, ProblemSchema } from '../../../shared/api/problem-schema.js';
import { SandboxParamsSchema } from '../../../shared/api/sandbox-schemas.js';
import { ComputerService } from '../../core/computer/computer-service.js';
import type { ApiApp, ApiServices } from '../api-context.js';

const tags = ['computer'];
const errors = { 400: ProblemSchema, 404: ProblemSchema, 409: ProblemSchema, 503: ProblemSchema, 504: ProblemSchema };

/** Computer use (docs/computer-use.md): one action per request against a sandbox's display. */
export function registerComputerRoutes(app: ApiApp, { manager }: ApiServices): void {
  const computer = new ComputerService(manager);

  app.post(
    '/sandboxes/:id/computer',
    {
      schema: {
        tags,
        summary: 'Perform one computer-use action (screenshot, click, type, key, scroll, drag, …) on the sandbox\'s display',
        params: SandboxParamsSchema,
        body: ComputerActionSchema,
        response: { 200: ComputerResultSchema, ...errors },
      },
      // The union's own error ("must match a schema in anyOf") names nothing; the core's check names the field.
      attachValidation: true,
    },
    async (request) => computer.perform(request.params.id, request.body as unknown),
  );

  app.get(
    '/sandboxes/:id/computer/screenshot',
    {
      schema: {
        tags,
        summary: "The sandbox's screen as a PNG",
        params: SandboxParamsSchema,
        response: { 200: ByteStreamSchema, ...errors },
      },
    },
    async (request, reply) => {
      const { png, width, height } = await computer.screenshot(request.params.id);
      return reply.type('image/png').header('cache-control', 'no-store').header('x-screen-width', width).header('x-screen-height', height).send(png);
    },
  );
}

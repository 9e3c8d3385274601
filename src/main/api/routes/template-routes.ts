import type { ServerResponse } from 'node:http';
import { ProblemSchema } from '../../../shared/api/problem-schema.js';
import { TemplateListSchema, TemplateParamsSchema, TemplateSchema, type Template } from '../../../shared/api/template-schemas.js';
import type { BuildProgress } from '../../core/build/progress.js';
import type { ApiApp, ApiServices } from '../api-context.js';
import { problemFrom } from '../problem-details.js';

const tags = ['templates'];

export function registerTemplateRoutes(app: ApiApp, { manager, config }: ApiServices): void {
  const describe = async (): Promise<Template[]> => {
    const fallback = await manager.templates.defaultName(config.defaults.template);
    return (await manager.templates.list()).map((template) => ({
      ...template,
      defaults: { vcpus: template.defaults.vcpus, memoryMiB: template.defaults.memoryMiB, diskMiB: template.defaults.diskMiB ?? null },
      default: template.name === fallback,
    }));
  };

  app.get(
    '/templates',
    { schema: { tags, summary: 'Templates, whether their images are built, and definition files that could not be used', response: { 200: TemplateListSchema } } },
    async () => ({ templates: await describe(), errors: manager.templates.errors() }),
  );

  app.post(
    '/templates/:name/build',
    {
      schema: {
        tags,
        summary: 'Build (or confirm up to date) a template image. With Accept: text/event-stream, streams `progress` events, then `done` or `error`',
        params: TemplateParamsSchema,
        response: { 200: TemplateSchema, 404: ProblemSchema, 500: ProblemSchema, 503: ProblemSchema },
      },
    },
    async (request, reply) => {
      const { name } = request.params;
      const summary = async () => {
        const template = (await describe()).find((t) => t.name === name);
        if (!template) throw new Error(`template ${name} vanished after its build`);
        return template;
      };
      if (!(request.headers.accept ?? '').includes('text/event-stream')) {
        await manager.buildTemplate(name, name, undefined, { recheck: true });
        return summary();
      }
      // Check the name and definition before committing to a stream, so an unknown template
      // is a plain 404 and a broken definition a plain problem naming its file and field.
      manager.templates.definition(name);
      reply.hijack();
      const raw: ServerResponse = reply.raw;
      raw.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', 'x-request-id': request.id });
      const send = (event: string, data: unknown) => raw.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
      try {
        await manager.buildTemplate(name, name, (progress: BuildProgress) => send('progress', progress), { recheck: true });
        send('done', await summary());
      } catch (error) {
        send('error', problemFrom(error, request.id));
      }
      raw.end();
    },
  );
}

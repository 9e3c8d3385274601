import { Readable } from 'node:stream';
import { LogsQuerySchema } from '../../../shared/api/file-schemas.js';
import { ByteStreamSchema, ProblemSchema } from '../../../shared/api/problem-schema.js';
import { SandboxParamsSchema } from '../../../shared/api/sandbox-schemas.js';
import { readSerialLog } from '../../core/hypervisor/serial-log-reader.js';
import type { ApiApp, ApiServices } from '../api-context.js';

export function registerLogRoutes(app: ApiApp, { manager }: ApiServices): void {
  app.get(
    '/sandboxes/:id/logs',
    {
      schema: {
        tags: ['logs'],
        summary: "The serial console log of the sandbox's current run (text/plain); tail=N for the last lines, follow=true to keep streaming",
        params: SandboxParamsSchema,
        querystring: LogsQuerySchema,
        response: { 200: ByteStreamSchema, 404: ProblemSchema },
      },
    },
    async (request, reply) => {
      const path = manager.serialLogPath(request.params.id);
      const aborted = new AbortController();
      request.raw.on('close', () => aborted.abort());
      const chunks = path ? readSerialLog(path, { tail: request.query.tail, follow: request.query.follow, signal: aborted.signal }) : [];
      return reply.type('text/plain; charset=utf-8').header('cache-control', 'no-cache').send(Readable.from(headersFirst(chunks)));
    },
  );
}

/**
 * Node sends a streamed response's headers with its first write, so a follower of a quiet
 * console would wait for them until the guest prints something; an empty first chunk
 * sends them at once.
 */
async function* headersFirst(chunks: Iterable<Buffer> | AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
  yield Buffer.alloc(0);
  yield* chunks;
}

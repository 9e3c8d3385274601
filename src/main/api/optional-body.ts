import type { FastifyRequest } from 'fastify';

/**
 * A preValidation hook for routes whose JSON body is optional: Fastify validates a missing
 * body as null, but no body means "all defaults".
 */
export async function missingBodyIsEmpty(request: FastifyRequest): Promise<void> {
  request.body ??= {};
}

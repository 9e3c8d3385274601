import type { TSchema } from 'typebox';
import { Value } from 'typebox/value';
import { SandboxError } from '../core/errors/sandbox-error.js';

/**
 * Checks a message that does not pass through Fastify's validation (WebSocket messages)
 * against its schema, naming the first wrong field the way request validation does.
 */
export function schemaProblem(schema: TSchema, value: unknown, context: string): SandboxError | null {
  if (Value.Check(schema, value)) return null;
  const first = Value.Errors(schema, value)[0];
  const where = first ? `${first.instancePath || '/'} ${first.message}` : 'not valid JSON';
  return new SandboxError('invalid_argument', `${context}: ${where}`);
}

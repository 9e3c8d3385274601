import { errorCodeInfo } from '../../shared/error-codes.js';
import { PROBLEM_TYPE_BASE, type Problem } from '../../shared/api/problem-schema.js';
import { SandboxError } from '../core/errors/sandbox-error.js';

interface FastifyLikeError {
  code?: string;
  statusCode?: number;
  validation?: unknown;
  validationContext?: string;
  message: string;
}

/**
 * Turns any failure into RFC 9457 problem details: SandboxError codes map through the one
 * table in src/shared/error-codes.ts, Fastify's own errors (validation, body size, bad
 * JSON) become invalid_argument or payload_too_large, and anything else is internal
 * without leaking its stack.
 */
export function problemFrom(error: unknown, requestId: string): Problem {
  if (error instanceof SandboxError) return problem(error.code, error.message, requestId, error.details);
  const e = error as FastifyLikeError;
  if (e.validation) return problem('invalid_argument', e.message, requestId, { in: e.validationContext });
  if (e.code === 'FST_ERR_CTP_BODY_TOO_LARGE') return problem('payload_too_large', e.message, requestId);
  if (typeof e.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500) {
    return problem(e.statusCode === 413 ? 'payload_too_large' : 'invalid_argument', e.message, requestId);
  }
  return problem('internal', 'internal error; the daemon log has the details under this request id', requestId);
}

export function problem(code: string, detail: string, requestId: string, details?: Record<string, unknown>): Problem {
  const info = errorCodeInfo(code);
  return {
    type: `${PROBLEM_TYPE_BASE}${code}`,
    title: info.title,
    status: info.status,
    detail,
    code,
    requestId,
    ...(details && Object.keys(details).length > 0 ? { details } : {}),
  };
}

import { errorCodeInfo } from '../shared/error-codes.js';
import type { Problem } from '../shared/api/problem-schema.js';

/**
 * Every failure the SDK reports: the daemon's problem+json answers keep their stable
 * `code` (see src/shared/error-codes.ts), and a daemon that does not answer at all is
 * `daemon_unreachable`.
 */
export class MicrovmError extends Error {
  override name = 'MicrovmError';
  readonly code: string;
  readonly status: number;
  readonly requestId?: string;
  readonly details?: Record<string, unknown>;

  constructor(code: string, message: string, extra: { status?: number; requestId?: string; details?: Record<string, unknown>; cause?: unknown } = {}) {
    super(message, extra.cause === undefined ? undefined : { cause: extra.cause });
    this.code = code;
    this.status = extra.status ?? errorCodeInfo(code).status;
    if (extra.requestId !== undefined) this.requestId = extra.requestId;
    if (extra.details !== undefined) this.details = extra.details;
  }

  static fromProblem(problem: Problem): MicrovmError {
    return new MicrovmError(problem.code, problem.detail, { status: problem.status, requestId: problem.requestId, details: problem.details });
  }

  /** From an error answer's status and body, problem+json or not. */
  static fromResponse(status: number, body: string, requestId: string | undefined): MicrovmError {
    const problem = parseProblem(body);
    if (problem) return MicrovmError.fromProblem(problem);
    const code = status === 404 ? 'route_not_found' : status === 401 ? 'unauthorized' : status < 500 ? 'invalid_argument' : 'internal';
    const text = body.trim().slice(0, 500);
    return new MicrovmError(code, `the daemon answered ${status}${text ? `: ${text}` : ''}`, { status, ...(requestId ? { requestId } : {}) });
  }
}

function parseProblem(body: string): Problem | undefined {
  try {
    const value = JSON.parse(body) as Partial<Problem>;
    return typeof value?.code === 'string' && typeof value.detail === 'string' && typeof value.status === 'number' ? (value as Problem) : undefined;
  } catch {
    return undefined;
  }
}

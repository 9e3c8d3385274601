import type { ErrorCode } from '../../../shared/error-codes.js';

export type { ErrorCode } from '../../../shared/error-codes.js';

/**
 * Every failure the core reports carries a stable machine-readable code and a message a
 * person can act on. Front doors map codes to their own shapes (HTTP status, exit code,
 * MCP isError) from this one type.
 */
export class SandboxError extends Error {
  override readonly name = 'SandboxError';

  constructor(
    readonly code: ErrorCode | string,
    message: string,
    readonly details?: Record<string, unknown>,
  ) {
    super(message);
  }
}

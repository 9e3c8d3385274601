/**
 * Every failure the core reports carries a stable machine-readable code and a message a
 * person can act on. Front doors map codes to their own shapes (HTTP status, exit code,
 * MCP isError) from this one type.
 */
export type ErrorCode =
  | 'invalid_argument'
  | 'not_found'
  | 'already_exists'
  | 'missing_tool'
  | 'build_failed'
  | 'agent_unreachable'
  | 'agent_protocol'
  | 'agent_error'
  | 'timeout'
  | 'cancelled'
  | 'invalid_state'
  | 'limit_reached'
  | 'insufficient_memory'
  | 'hypervisor_unavailable'
  | 'hypervisor_error'
  | 'hypervisor_busy'
  | 'invalid_config'
  | 'store_too_new'
  | 'store_unreadable'
  | 'store_unavailable'
  | 'internal';

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

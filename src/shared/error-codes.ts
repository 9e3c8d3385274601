/**
 * The stable error codes every front door reports, and how each door shows them: the
 * HTTP status of the API's problem+json, the exit status of the CLI, and a short title.
 * The core raises them (SandboxError), the guest agent sends some of them (its stream
 * errors), and the SDK hands them to callers unchanged.
 */
export const ERROR_CODES = {
  invalid_argument: { status: 400, exit: 2, title: 'Invalid argument' },
  payload_too_large: { status: 413, exit: 2, title: 'Payload too large' },
  unauthorized: { status: 401, exit: 6, title: 'Unauthorized' },
  forbidden: { status: 403, exit: 6, title: 'Forbidden' },
  not_found: { status: 404, exit: 3, title: 'Not found' },
  route_not_found: { status: 404, exit: 3, title: 'No such route' },
  method_not_allowed: { status: 405, exit: 2, title: 'Method not allowed' },
  already_exists: { status: 409, exit: 4, title: 'Already exists' },
  invalid_state: { status: 409, exit: 4, title: 'Wrong state for this operation' },
  hypervisor_busy: { status: 409, exit: 4, title: 'Hypervisor busy' },
  port_in_use: { status: 409, exit: 4, title: 'Host port in use' },
  limit_reached: { status: 429, exit: 5, title: 'Limit reached' },
  insufficient_memory: { status: 507, exit: 5, title: 'Insufficient host memory' },
  insufficient_space: { status: 507, exit: 5, title: 'Insufficient disk space' },
  snapshot_corrupt: { status: 422, exit: 10, title: 'Snapshot failed its integrity check' },
  is_directory: { status: 409, exit: 4, title: 'Is a directory' },
  not_directory: { status: 409, exit: 4, title: 'Not a directory' },
  not_empty: { status: 409, exit: 4, title: 'Directory not empty' },
  permission_denied: { status: 403, exit: 4, title: 'Permission denied in the guest' },
  not_permitted: { status: 403, exit: 4, title: 'Operation not permitted in the guest' },
  connection_refused: { status: 502, exit: 1, title: 'Connection refused in the guest' },
  unknown_operation: { status: 501, exit: 1, title: 'The guest agent does not know this operation' },
  io_error: { status: 500, exit: 1, title: 'I/O error in the guest' },
  timeout: { status: 504, exit: 7, title: 'Timed out' },
  cancelled: { status: 409, exit: 8, title: 'Cancelled' },
  agent_unreachable: { status: 502, exit: 1, title: 'Guest agent unreachable' },
  agent_protocol: { status: 502, exit: 1, title: 'Guest agent protocol error' },
  agent_error: { status: 500, exit: 1, title: 'Guest agent error' },
  daemon_unreachable: { status: 503, exit: 9, title: 'Daemon unreachable' },
  missing_tool: { status: 503, exit: 1, title: 'A host tool is missing' },
  network_helper_failed: { status: 502, exit: 1, title: 'The network helper failed' },
  network_unavailable: { status: 503, exit: 1, title: 'The requested network is not available on this host' },
  ui_not_built: { status: 503, exit: 1, title: 'The UI is not built' },
  no_display: { status: 409, exit: 4, title: 'The sandbox has no display' },
  display_unavailable: { status: 503, exit: 1, title: "The sandbox's display is not answering" },
  build_failed: { status: 500, exit: 1, title: 'Image build failed' },
  hypervisor_unavailable: { status: 503, exit: 1, title: 'Hypervisor unavailable' },
  hypervisor_error: { status: 502, exit: 1, title: 'Hypervisor error' },
  invalid_config: { status: 500, exit: 1, title: 'Invalid configuration' },
  store_too_new: { status: 500, exit: 1, title: 'Store written by a newer version' },
  store_unreadable: { status: 500, exit: 1, title: 'Store unreadable' },
  store_unavailable: { status: 503, exit: 1, title: 'Store unavailable' },
  internal: { status: 500, exit: 1, title: 'Internal error' },
} as const satisfies Record<string, { status: number; exit: number; title: string }>;

export type ErrorCode = keyof typeof ERROR_CODES;

export function isErrorCode(code: string): code is ErrorCode {
  return Object.hasOwn(ERROR_CODES, code);
}

/** The facts for a code, falling back to `internal` for one this version does not know. */
export function errorCodeInfo(code: string): (typeof ERROR_CODES)[ErrorCode] {
  return isErrorCode(code) ? ERROR_CODES[code] : ERROR_CODES.internal;
}

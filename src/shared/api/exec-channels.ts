/**
 * The streamed exec WebSocket (GET /api/v1/sandboxes/{id}/exec/ws) carries bytes in binary
 * messages whose first byte names the stream. Kept apart from the schemas so a browser
 * client gets the numbers without loading the schema library.
 */
export const ExecChannel = { stdin: 0, stdout: 1, stderr: 2 } as const;

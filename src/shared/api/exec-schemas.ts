import { Type, type Static } from 'typebox';

const ProcessFields = {
  argv: Type.Optional(Type.Array(Type.String(), { minItems: 1, description: 'Program and arguments; exactly one of argv and shell' })),
  shell: Type.Optional(Type.String({ minLength: 1, description: 'Run as /bin/sh -c <shell>' })),
  env: Type.Optional(Type.Record(Type.String(), Type.String())),
  cwd: Type.Optional(Type.String({ pattern: '^/', description: 'Absolute guest path' })),
  user: Type.Optional(Type.String({ minLength: 1 })),
  timeoutMs: Type.Optional(Type.Integer({ minimum: 1, maximum: 86_400_000 })),
};

export const MAX_EXEC_OUTPUT_BYTES = 16 * 1024 * 1024;
export const DEFAULT_EXEC_OUTPUT_BYTES = 1024 * 1024;

export const ExecBodySchema = Type.Object(
  {
    ...ProcessFields,
    stdin: Type.Optional(Type.String({ description: 'Everything the process reads on stdin' })),
    stdinEncoding: Type.Optional(Type.Union([Type.Literal('utf8'), Type.Literal('base64')])),
    encoding: Type.Optional(Type.Union([Type.Literal('utf8'), Type.Literal('base64')], { description: 'How stdout and stderr are returned (utf8 by default)' })),
    maxOutputBytes: Type.Optional(
      Type.Integer({ minimum: 0, maximum: MAX_EXEC_OUTPUT_BYTES, description: `Per stream; output beyond it is dropped and flagged (default ${DEFAULT_EXEC_OUTPUT_BYTES})` }),
    ),
  },
  { additionalProperties: false },
);
export type ExecBody = Static<typeof ExecBodySchema>;

const ExitFields = {
  exitCode: Type.Union([Type.Integer(), Type.Null()], { description: 'Null when a signal ended the process' }),
  signal: Type.Union([Type.String(), Type.Null()]),
  timedOut: Type.Boolean(),
  durationMs: Type.Number(),
};

export const ExecResultSchema = Type.Object({
  ...ExitFields,
  stdout: Type.String(),
  stderr: Type.String(),
  stdoutTruncated: Type.Boolean(),
  stderrTruncated: Type.Boolean(),
  encoding: Type.Union([Type.Literal('utf8'), Type.Literal('base64')]),
});
export type ExecResult = Static<typeof ExecResultSchema>;

/**
 * The streamed exec WebSocket (GET /api/v1/sandboxes/{id}/exec/ws), written down once for
 * the server and the SDK. Text messages carry JSON control messages; binary messages carry
 * bytes, their first byte naming the stream (ExecChannel).
 */
export { ExecChannel } from './exec-channels.js';

export const ExecStartMessageSchema = Type.Object(
  {
    type: Type.Literal('start'),
    ...ProcessFields,
    stdin: Type.Optional(Type.Boolean({ description: 'Open stdin; otherwise the process reads /dev/null' })),
    pty: Type.Optional(Type.Object({ rows: Type.Integer({ minimum: 1, maximum: 1000 }), cols: Type.Integer({ minimum: 1, maximum: 1000 }) })),
  },
  { additionalProperties: false },
);
export type ExecStartMessage = Static<typeof ExecStartMessageSchema>;

export const ExecClientMessageSchema = Type.Union([
  Type.Object({ type: Type.Literal('eof') }, { additionalProperties: false }),
  Type.Object({ type: Type.Literal('resize'), rows: Type.Integer({ minimum: 1, maximum: 1000 }), cols: Type.Integer({ minimum: 1, maximum: 1000 }) }, { additionalProperties: false }),
  Type.Object({ type: Type.Literal('signal'), signal: Type.String({ pattern: '^SIG[A-Z0-9]+$' }) }, { additionalProperties: false }),
  Type.Object({ type: Type.Literal('kill') }, { additionalProperties: false }),
]);
export type ExecClientMessage = Static<typeof ExecClientMessageSchema>;

export const ExecExitSchema = Type.Object(ExitFields);
export type ExecExit = Static<typeof ExecExitSchema>;

export type ExecServerMessage =
  | { type: 'started'; pid: number }
  | ({ type: 'exit' } & ExecExit)
  | { type: 'error'; code: string; message: string };

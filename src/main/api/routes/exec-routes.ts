import type { WebSocket } from 'ws';
import { Value } from 'typebox/value';
import {
  DEFAULT_EXEC_OUTPUT_BYTES,
  ExecBodySchema,
  ExecChannel,
  ExecClientMessageSchema,
  ExecResultSchema,
  ExecStartMessageSchema,
  type ExecServerMessage,
  type ExecStartMessage,
} from '../../../shared/api/exec-schemas.js';
import { ProblemSchema } from '../../../shared/api/problem-schema.js';
import { SandboxParamsSchema } from '../../../shared/api/sandbox-schemas.js';
import type { ExecProcess } from '../../core/agent/agent-exec.js';
import { SandboxError } from '../../core/errors/sandbox-error.js';
import type { ApiApp, ApiServices } from '../api-context.js';
import { schemaProblem } from '../schema-check.js';
import { needsUpgrade } from '../websocket-route.js';

const tags = ['exec'];
/** Output waiting in the socket beyond this pauses the guest process's streams. */
const HIGH_WATER_BYTES = 1024 * 1024;

export function registerExecRoutes(app: ApiApp, { manager }: ApiServices): void {
  app.post(
    '/sandboxes/:id/exec',
    {
      schema: {
        tags,
        summary: 'Run a short command to completion and return its output (size-limited, truncation flagged)',
        params: SandboxParamsSchema,
        body: ExecBodySchema,
        response: { 200: ExecResultSchema, 400: ProblemSchema, 404: ProblemSchema, 409: ProblemSchema },
      },
    },
    async (request) => {
      const { argv, shell, env, cwd, user, timeoutMs, stdin, stdinEncoding, encoding = 'utf8', maxOutputBytes = DEFAULT_EXEC_OUTPUT_BYTES } = request.body;
      onlyOneOf(argv, shell);
      const agent = await manager.agent(request.params.id);
      const result = await agent.run(
        { argv, shell, env, cwd, user, timeoutMs },
        { stdin: stdin === undefined ? undefined : Buffer.from(stdin, stdinEncoding ?? 'utf8'), maxOutputBytes },
      );
      return {
        exitCode: result.exitCode,
        signal: result.signal,
        timedOut: result.timedOut,
        durationMs: result.durationMs,
        stdout: result.stdout.toString(encoding),
        stderr: result.stderr.toString(encoding),
        stdoutTruncated: result.stdoutTruncated,
        stderrTruncated: result.stderrTruncated,
        encoding,
      };
    },
  );

  app.route({
    method: 'GET',
    url: '/sandboxes/:id/exec/ws',
    schema: {
      tags,
      summary: 'WebSocket: streamed exec or interactive PTY (protocol in docs/api.md)',
      params: SandboxParamsSchema,
      response: { 404: ProblemSchema, 409: ProblemSchema },
    },
    // Resolving the agent before the upgrade turns an unknown or stopped sandbox into a problem+json answer.
    preHandler: async (request) => {
      await manager.agent((request.params as { id: string }).id);
    },
    handler: needsUpgrade,
    wsHandler: (socket, request) => {
      const send = (message: ExecServerMessage) => socket.send(JSON.stringify(message));
      const fail = (error: unknown) => {
        const e = error instanceof SandboxError ? error : new SandboxError('internal', (error as Error).message);
        if (socket.readyState === socket.OPEN) {
          send({ type: 'error', code: e.code, message: e.message });
          socket.close(1011, e.code.slice(0, 100));
        }
      };
      // What the client sends after its start message (stdin, eof, signals) may arrive before the
      // guest process exists; it waits here, in order, until relay() takes over.
      const pending: Array<[Buffer, boolean]> = [];
      const hold = (data: Buffer, isBinary: boolean) => pending.push([data, isBinary]);
      socket.once('message', (data, isBinary) => {
        socket.on('message', hold);
        void (async () => {
          const start = isBinary ? undefined : parseJson(data.toString());
          const problem = schemaProblem(ExecStartMessageSchema, start, 'the first message must be a start message');
          if (problem) throw problem;
          const message = start as ExecStartMessage;
          onlyOneOf(message.argv, message.shell);
          const agent = await manager.agent(request.params.id);
          const proc = agent.exec({
            argv: message.argv,
            shell: message.shell,
            env: message.env,
            cwd: message.cwd,
            user: message.user,
            timeoutMs: message.timeoutMs,
            stdin: message.stdin === true,
            pty: message.pty,
          });
          socket.off('message', hold);
          await relay(socket, proc, send, pending);
        })().catch(fail);
      });
    },
  });
}

/** Connects one WebSocket to one guest process until it exits, keeping both directions flow-controlled. */
async function relay(socket: WebSocket, proc: ExecProcess, send: (message: ExecServerMessage) => void, pending: Array<[Buffer, boolean]>): Promise<void> {
  const startedAt = performance.now();
  let killRequested = false;
  socket.on('close', () => proc.kill());
  // The client may have gone while the process was being started.
  if (socket.readyState !== socket.OPEN) proc.kill();
  const onMessage = (bytes: Buffer, isBinary: boolean) => {
    if (isBinary) {
      if (bytes[0] !== ExecChannel.stdin || !proc.stdin) return;
      if (!proc.stdin.write(bytes.subarray(1))) {
        socket.pause();
        proc.stdin.once('drain', () => socket.resume());
      }
      return;
    }
    const message = parseJson(bytes.toString());
    if (!Value.Check(ExecClientMessageSchema, message)) return;
    if (message.type === 'eof') proc.stdin?.end();
    else if (message.type === 'resize') void proc.resize(message.rows, message.cols).catch(() => undefined);
    else if (message.type === 'signal') void proc.signal(message.signal).catch(() => undefined);
    else {
      killRequested = true;
      proc.kill();
    }
  };
  socket.on('message', onMessage);
  for (const [bytes, isBinary] of pending.splice(0)) onMessage(bytes, isBinary);
  proc.stdin?.on('error', () => undefined);
  void proc.pid.then((pid) => send({ type: 'started', pid }), () => undefined);
  const forward = (stream: NodeJS.ReadableStream, channel: number) =>
    new Promise<void>((resolve) => {
      stream.on('data', (chunk: Buffer) => {
        socket.send(Buffer.concat([Buffer.of(channel), chunk]));
        if (socket.bufferedAmount > HIGH_WATER_BYTES) {
          stream.pause();
          const wait = () => (socket.bufferedAmount > HIGH_WATER_BYTES && socket.readyState === socket.OPEN ? setTimeout(wait, 5) : stream.resume());
          setTimeout(wait, 5);
        }
      });
      stream.on('end', resolve);
      stream.on('error', () => resolve());
    });
  // The agent ends a killed process's stream as `cancelled`; to the client that asked, it is the SIGKILL it asked for.
  const outcome = proc.result.catch((error: unknown) => {
    if (!killRequested || !(error instanceof SandboxError) || error.code !== 'cancelled') throw error;
    return { exitCode: null, signal: 'SIGKILL', timedOut: false, durationMs: Math.round(performance.now() - startedAt) };
  });
  const [result] = await Promise.all([outcome, forward(proc.stdout, ExecChannel.stdout), forward(proc.stderr, ExecChannel.stderr)]);
  if (socket.readyState !== socket.OPEN) return;
  send({ type: 'exit', exitCode: result.exitCode, signal: result.signal, timedOut: result.timedOut, durationMs: result.durationMs });
  socket.close(1000);
}

function onlyOneOf(argv: unknown, shell: unknown): void {
  if ((argv === undefined) === (shell === undefined)) {
    throw new SandboxError('invalid_argument', 'argv, shell: give exactly one of them', { field: 'argv' });
  }
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

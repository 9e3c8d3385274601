import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type WebSocket from 'ws';
import type { ExecResult } from '../../src/shared/api/exec-schemas.js';
import { startTestDaemon, type TestDaemon } from '../support/daemon-harness.js';
import { call, createSandbox, destroySandbox, expectProblem, ok, opened, openWebSocket, V1, type SandboxView, type Transport } from './api-http.js';


let daemon: TestDaemon;
let sandbox: SandboxView;
beforeAll(async () => {
  daemon = await startTestDaemon({ tcp: true });
  sandbox = await createSandbox(daemon, { name: 'exec', memoryMiB: 256 });
});
afterAll(async () => {
  if (sandbox) await destroySandbox(daemon, sandbox.id);
  expect(await daemon.stop()).toEqual([]);
});

const exec = (body: Record<string, unknown>, via: Transport = 'unix') => ok<ExecResult>(daemon, 'POST', `${V1}/sandboxes/exec/exec`, { via, json: body });

describe('JSON exec', () => {
  it.each<Transport>(['unix', 'tcp'])('returns exit code, stdout and stderr (over %s)', async (via) => {
    const result = await exec({ shell: 'echo out; echo err >&2; exit 3' }, via);
    expect(result).toMatchObject({ exitCode: 3, signal: null, timedOut: false, stdout: 'out\n', stderr: 'err\n', stdoutTruncated: false, stderrTruncated: false, encoding: 'utf8' });
    expect(result.durationMs).toBeGreaterThanOrEqual(0);
  });

  it('passes argv untouched by a shell, with env, cwd and user', async () => {
    const result = await exec({ argv: ['sh', '-c', 'printf "%s|%s|%s|%s" "$1" "$GREETING" "$(pwd)" "$(id -un)"', 'sh', 'a b;$x'], env: { GREETING: 'hi' }, cwd: '/tmp', user: 'root' });
    expect(result.stdout).toBe('a b;$x|hi|/tmp|root');
  });

  it('feeds stdin, as text and as base64', async () => {
    expect((await exec({ argv: ['cat'], stdin: 'line one\nline two\n' })).stdout).toBe('line one\nline two\n');
    const bytes = Buffer.from([0, 1, 2, 255, 254, 10]);
    const result = await exec({ argv: ['od', '-An', '-tx1'], stdin: bytes.toString('base64'), stdinEncoding: 'base64' });
    expect(result.stdout.trim().split(/\s+/)).toEqual(['00', '01', '02', 'ff', 'fe', '0a']);
  });

  it('returns binary output as base64', async () => {
    const result = await exec({ shell: "printf '\\000\\377\\001'", encoding: 'base64' });
    expect(result.encoding).toBe('base64');
    expect([...Buffer.from(result.stdout, 'base64')]).toEqual([0, 255, 1]);
  });

  it('cuts each stream at maxOutputBytes and flags it', async () => {
    const result = await exec({ shell: 'head -c 5000 /dev/zero | tr "\\0" a; head -c 10 /dev/zero | tr "\\0" b >&2', maxOutputBytes: 1000 });
    expect(result.stdout).toBe('a'.repeat(1000));
    expect(result.stdoutTruncated).toBe(true);
    expect(result.stderr).toBe('b'.repeat(10));
    expect(result.stderrTruncated).toBe(false);
    expect(result.exitCode).toBe(0);
  });

  it('ends a command at timeoutMs and says so', async () => {
    const started = Date.now();
    const result = await exec({ argv: ['sleep', '30'], timeoutMs: 1000 });
    expect(result.timedOut).toBe(true);
    expect(result.exitCode).toBeNull();
    expect(result.signal).toBe('SIGKILL');
    expect(Date.now() - started).toBeLessThan(15_000);
  });

  it('refuses both or neither of argv and shell, and unknown fields, as 400 naming the field', async () => {
    const path = `${V1}/sandboxes/exec/exec`;
    expect(expectProblem(await call(daemon, 'POST', path, { json: { argv: ['true'], shell: 'true' } }), 400, 'invalid_argument').detail).toMatch(/argv/);
    expect(expectProblem(await call(daemon, 'POST', path, { json: {} }), 400, 'invalid_argument').detail).toMatch(/argv/);
    expect(expectProblem(await call(daemon, 'POST', path, { json: { argv: ['true'], color: 'red' } }), 400, 'invalid_argument').detail).toMatch(/additional|color/);
    // JSON bodies are typed: a string is not coerced into a one-element argv, nor text into a number.
    expect(expectProblem(await call(daemon, 'POST', path, { json: { argv: 'true' } }), 400, 'invalid_argument').detail).toMatch(/argv/);
    expect(expectProblem(await call(daemon, 'POST', path, { json: { argv: ['true'], timeoutMs: '1000' } }), 400, 'invalid_argument').detail).toMatch(/timeoutMs/);
    expect(expectProblem(await call(daemon, 'POST', path, { json: { argv: ['true'], maxOutputBytes: -1 } }), 400, 'invalid_argument').detail).toMatch(/maxOutputBytes/);
  });
});

interface Session {
  socket: WebSocket;
  /** Everything received on stdout (1) and stderr (2) so far. */
  out: () => string;
  err: () => string;
  control: Record<string, unknown>[];
  closed: Promise<{ code: number; reason: string }>;
  /** Resolves once stdout contains `text`. */
  waitFor(text: string): Promise<void>;
}

async function session(start: Record<string, unknown>, via: Transport = 'unix'): Promise<Session> {
  const socket = openWebSocket(daemon, `${V1}/sandboxes/exec/exec/ws`, via);
  const stdout: Buffer[] = [];
  const stderr: Buffer[] = [];
  const control: Record<string, unknown>[] = [];
  const waiters: Array<() => void> = [];
  socket.on('message', (data: Buffer, isBinary) => {
    if (isBinary) (data[0] === 1 ? stdout : stderr).push(data.subarray(1));
    else control.push(JSON.parse(data.toString()) as Record<string, unknown>);
    for (const wake of waiters.splice(0)) wake();
  });
  const closed = new Promise<{ code: number; reason: string }>((resolve) => socket.once('close', (code, reason) => resolve({ code, reason: reason.toString() })));
  await opened(socket);
  socket.send(JSON.stringify({ type: 'start', ...start }));
  const out = () => Buffer.concat(stdout).toString();
  return {
    socket,
    out,
    err: () => Buffer.concat(stderr).toString(),
    control,
    closed,
    async waitFor(text) {
      while (!out().includes(text)) {
        if (socket.readyState !== socket.OPEN) throw new Error(`socket closed before "${text}" appeared; stdout: ${out()}`);
        await new Promise<void>((resolve) => waiters.push(resolve));
      }
    },
  };
}

describe('streamed exec over the WebSocket', () => {
  it.each<Transport>(['unix', 'tcp'])('streams stdin to the process until eof, and its output back (over %s)', async (via) => {
    const s = await session({ argv: ['sh', '-c', 'while read line; do echo "got $line"; done; echo done >&2; exit 7'], stdin: true }, via);
    // Sent right behind the start message, before `started`: it must wait for the process, not be dropped.
    s.socket.send(Buffer.concat([Buffer.of(0), Buffer.from('one\n')]));
    await s.waitFor('got one\n');
    s.socket.send(Buffer.concat([Buffer.of(0), Buffer.from('two\n')]));
    await s.waitFor('got two\n');
    s.socket.send(JSON.stringify({ type: 'eof' }));
    expect(await s.closed).toEqual({ code: 1000, reason: '' });
    expect(s.out()).toBe('got one\ngot two\n');
    expect(s.err()).toBe('done\n');
    expect(s.control[0]).toMatchObject({ type: 'started', pid: expect.any(Number) });
    expect(s.control.at(-1)).toMatchObject({ type: 'exit', exitCode: 7, signal: null, timedOut: false });
  });

  it('runs a PTY session that follows resizes', async () => {
    const s = await session({ argv: ['/bin/sh'], stdin: true, pty: { rows: 24, cols: 80 } });
    s.socket.send(Buffer.concat([Buffer.of(0), Buffer.from('stty size; tty\n')]));
    await s.waitFor('24 80');
    await s.waitFor('/dev/pts/');
    s.socket.send(JSON.stringify({ type: 'resize', rows: 40, cols: 132 }));
    // The resize travels on its own path; poll until the terminal reports it.
    for (let i = 0; !s.out().includes('40 132') && i < 50; i++) {
      s.socket.send(Buffer.concat([Buffer.of(0), Buffer.from('stty size\n')]));
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    expect(s.out()).toContain('40 132');
    s.socket.send(Buffer.concat([Buffer.of(0), Buffer.from('exit 4\n')]));
    expect((await s.closed).code).toBe(1000);
    expect(s.control.at(-1)).toMatchObject({ type: 'exit', exitCode: 4 });
  });

  it('delivers a signal: SIGTERM ends a sleep 1000', async () => {
    const s = await session({ argv: ['sleep', '1000'] });
    while (!s.control.some((m) => m.type === 'started')) await new Promise((resolve) => setTimeout(resolve, 50));
    s.socket.send(JSON.stringify({ type: 'signal', signal: 'SIGTERM' }));
    expect((await s.closed).code).toBe(1000);
    expect(s.control.at(-1)).toMatchObject({ type: 'exit', exitCode: null, signal: 'SIGTERM' });
  });

  it('kills on request', async () => {
    const s = await session({ argv: ['sleep', '1000'] });
    while (!s.control.some((m) => m.type === 'started')) await new Promise((resolve) => setTimeout(resolve, 50));
    s.socket.send(JSON.stringify({ type: 'kill' }));
    expect((await s.closed).code).toBe(1000);
    expect(s.control.at(-1)).toMatchObject({ type: 'exit', exitCode: null, signal: 'SIGKILL' });
  });

  it('ends the guest process when the client goes away', async () => {
    const s = await session({ shell: 'echo $$ > /tmp/ws-pid; exec sleep 1000' });
    while (!s.control.some((m) => m.type === 'started')) await new Promise((resolve) => setTimeout(resolve, 50));
    s.socket.terminate();
    await s.closed;
    let alive = true;
    for (let i = 0; alive && i < 50; i++) {
      alive = (await exec({ shell: 'kill -0 "$(cat /tmp/ws-pid)" 2>/dev/null' })).exitCode === 0;
      if (alive) await new Promise((resolve) => setTimeout(resolve, 200));
    }
    expect(alive).toBe(false);
  });

  it('answers a bad start message with an error message and close code 1011', async () => {
    const s = await session({ argv: [] });
    expect((await s.closed).code).toBe(1011);
    expect(s.control).toEqual([expect.objectContaining({ type: 'error', code: 'invalid_argument', message: expect.stringMatching(/argv/) })]);
  });

  it('refuses an unknown sandbox before the upgrade with problem+json 404, and a paused one with 409', async () => {
    const unknown = openWebSocket(daemon, `${V1}/sandboxes/no-such-sandbox/exec/ws`);
    const refusal = await opened(unknown).then(() => null, (error: { status: number; contentType: string; body: string }) => error);
    expect(refusal).toMatchObject({ status: 404, contentType: expect.stringMatching(/^application\/problem\+json/) });
    expect(JSON.parse(refusal!.body)).toMatchObject({ code: 'not_found', status: 404 });

    await ok(daemon, 'POST', `${V1}/sandboxes/exec/pause`);
    try {
      const paused = openWebSocket(daemon, `${V1}/sandboxes/exec/exec/ws`);
      const answer = await opened(paused).then(() => null, (error: { status: number; body: string }) => error);
      expect(answer?.status).toBe(409);
      expect(JSON.parse(answer!.body)).toMatchObject({ code: 'invalid_state' });
    } finally {
      await ok(daemon, 'POST', `${V1}/sandboxes/exec/resume`);
    }
  });
});

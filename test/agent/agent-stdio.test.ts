import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AgentClient } from '../../src/main/core/agent/agent-client.js';
import type { ExecProcess } from '../../src/main/core/agent/agent-exec.js';
import { startStdioAgent, type StdioAgent } from '../support/agent-on-host.js';

// The agent's mount namespace starts as a copy of the host's, so a host temp directory is
// visible to it and lets the tests check the agent's file operations from outside.
let agent: StdioAgent;
let client: AgentClient;
let dir: string;

beforeAll(async () => {
  agent = await startStdioAgent();
  client = agent.client;
  dir = await mkdtemp(join(tmpdir(), 'agent-stdio-'));
});

afterAll(async () => {
  client?.close();
  await agent?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');

async function text(stream: Readable): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream as AsyncIterable<Buffer>) chunks.push(chunk);
  return Buffer.concat(chunks).toString();
}

/** Whether a pid of the agent's namespace is still alive, asked from inside it. */
async function alive(pid: number): Promise<boolean> {
  const probe = await client.run({ argv: ['/bin/sh', '-c', `kill -0 ${pid} 2>/dev/null`] });
  return probe.exitCode === 0;
}

describe('info and ping', () => {
  it('reports a host-mode agent that is PID 1 of its namespace', async () => {
    const info = await client.info();
    expect(info).toMatchObject({ protocol: 1, os: 'linux', mode: 'host', pid: 1, bootToReadyMs: null });
    expect(info.agentVersion).toMatch(/^0\.1\.0/);
    expect(client.agent.ops).toContain('exec');
  });

  it('answers a ping', async () => {
    await expect(client.ping()).resolves.toBeTypeOf('number');
  });
});

describe('exec', () => {
  it('runs argv without a shell', async () => {
    const result = await client.run({ argv: ['echo', 'a  b', '$HOME'] });
    expect(result.stdout.toString()).toBe('a  b $HOME\n');
    expect(result).toMatchObject({ exitCode: 0, signal: null, timedOut: false });
  });

  it('runs shell commands with env and cwd', async () => {
    const result = await client.run({ shell: 'echo "$GREETING"; pwd', env: { GREETING: 'hello there' }, cwd: dir });
    expect(result.stdout.toString()).toBe(`hello there\n${dir}\n`);
  });

  it('keeps stdout and stderr apart and reports the exit code', async () => {
    const result = await client.run({ shell: 'echo out; echo err >&2; exit 3' });
    expect(result.stdout.toString()).toBe('out\n');
    expect(result.stderr.toString()).toBe('err\n');
    expect(result.exitCode).toBe(3);
  });

  it('reports death by signal', async () => {
    const result = await client.run({ shell: 'kill -TERM $$' });
    expect(result).toMatchObject({ exitCode: null, signal: 'SIGTERM', timedOut: false });
  });

  it('signals the process group on request', async () => {
    const proc = client.exec({ argv: ['sleep', '100'] });
    await proc.pid;
    await proc.signal('SIGINT');
    await expect(proc.result).resolves.toMatchObject({ exitCode: null, signal: 'SIGINT', timedOut: false });
  });

  it('kills a runaway at its timeout', async () => {
    const result = await client.run({ argv: ['sleep', '100'], timeoutMs: 500 });
    expect(result).toMatchObject({ exitCode: null, signal: 'SIGKILL', timedOut: true });
  });

  it('kill() cancels the exec and its process', async () => {
    const proc = client.exec({ argv: ['sleep', '100'] });
    const pid = await proc.pid;
    expect(await alive(pid)).toBe(true);
    proc.kill();
    await expect(proc.result).rejects.toMatchObject({ code: 'cancelled' });
    expect(await alive(pid)).toBe(false);
  });

  it('aborting through a signal cancels too', async () => {
    const controller = new AbortController();
    const proc = client.exec({ argv: ['sleep', '100'] }, { signal: controller.signal });
    const pid = await proc.pid;
    controller.abort();
    await expect(proc.result).rejects.toMatchObject({ code: 'cancelled' });
    await client.run({ shell: `while kill -0 ${pid} 2>/dev/null; do sleep 0.05; done`, timeoutMs: 20_000 });
    expect(await alive(pid)).toBe(false);
  });

  it('pipes stdin through the process', async () => {
    const input = randomBytes(3 * 1024 * 1024 + 17);
    const result = await client.run({ argv: ['sha256sum'] }, { stdin: input });
    expect(result.stdout.toString().split(' ')[0]).toBe(sha256(input));
  });

  it('streams stdin from a Readable with backpressure', async () => {
    const input = randomBytes(2 * 1024 * 1024);
    const proc = client.exec({ argv: ['wc', '-c'], stdin: true });
    const output = text(proc.stdout);
    await pipeline(Readable.from(chunksOf(input, 100_000)), proc.stdin!);
    expect((await output).trim()).toBe(String(input.length));
    await expect(proc.result).resolves.toMatchObject({ exitCode: 0 });
  });

  it('gives a PTY the size it was resized to', async () => {
    const proc = client.exec({ shell: 'read go; stty size; echo "$TERM"', pty: { rows: 24, cols: 80 }, stdin: true });
    const output = text(proc.stdout);
    await proc.pid;
    await proc.resize(50, 132);
    proc.stdin!.write('go\n');
    const result = await proc.result;
    expect(result.exitCode).toBe(0);
    const out = await output;
    expect(out).toContain('50 132');
    expect(out).toContain('xterm-256color');
  });

  it('delivers 9 MB of stdout intact to a slow consumer, buffering at most a window', async () => {
    const size = 9 * 1024 * 1024 + 5;
    const expected = Buffer.alloc(size);
    for (let i = 0; i < size; i++) expected[i] = 'abcdefghijklmnopqrstuvwxyz\n'.charCodeAt(i % 27);
    const proc = client.exec({ shell: `yes abcdefghijklmnopqrstuvwxyz | head -c ${size}` });
    const hash = createHash('sha256');
    let received = 0;
    let maxBuffered = 0;
    let writes = 0;
    const slow = new Writable({
      highWaterMark: 1024,
      write(chunk: Buffer, _encoding, callback) {
        maxBuffered = Math.max(maxBuffered, proc.stdout.readableLength);
        hash.update(chunk);
        received += chunk.length;
        if (++writes % 8 === 0) setTimeout(callback, 2);
        else setImmediate(callback);
      },
    });
    await pipeline(proc.stdout, slow);
    expect(received).toBe(size);
    expect(hash.digest('hex')).toBe(sha256(expected));
    expect(maxBuffered).toBeLessThanOrEqual(client.agent.window);
    await expect(proc.result).resolves.toMatchObject({ exitCode: 0 });
  });

  it('runs concurrent execs with their own output and exit codes', async () => {
    const results = await Promise.all(
      Array.from({ length: 8 }, (_, i) => client.run({ shell: `head -c ${20_000 * (i + 1)} /dev/zero | tr '\\0' '${i}'; echo e${i} >&2; exit ${i}` })),
    );
    results.forEach((result, i) => {
      expect(result.exitCode).toBe(i);
      expect(result.stdout.length).toBe(20_000 * (i + 1));
      expect(result.stdout.every((byte) => byte === 0x30 + i)).toBe(true);
      expect(result.stderr.toString()).toBe(`e${i}\n`);
    });
  });

  it('truncates collected output at maxOutputBytes but lets the process finish', async () => {
    const result = await client.run({ shell: 'head -c 1000000 /dev/zero; exit 4' }, { maxOutputBytes: 1000 });
    expect(result.stdout.length).toBe(1000);
    expect(result.truncated).toBe(true);
    expect(result.stdoutTruncated).toBe(true);
    expect(result.stderrTruncated).toBe(false);
    expect(result.exitCode).toBe(4);
  });

  it('reports a missing executable as not_found', async () => {
    const proc = client.exec({ argv: ['/nonexistent/binary'] });
    await expect(proc.result).rejects.toMatchObject({ name: 'SandboxError', code: 'not_found' });
    await expect(proc.pid).rejects.toBeDefined();
  });
});

describe('files', () => {
  it('writes atomically with mode and mkdirs, and reads back the same bytes', async () => {
    const content = randomBytes(5 * 1024 * 1024 + 3);
    const path = join(dir, 'deep', 'er', 'blob.bin');
    const written = await client.writeFile(path, content, { mode: 0o600, mkdirs: true });
    expect(written).toEqual({ size: content.length, sha256: sha256(content) });
    expect(sha256(await readFile(path))).toBe(sha256(content));
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    // No temporary file is left beside the target.
    expect(await readdir(join(dir, 'deep', 'er'))).toEqual(['blob.bin']);

    const back = await client.readFileBuffer(path);
    expect(sha256(back)).toBe(sha256(content));
    const part = await client.readFileBuffer(path, { offset: 1000, length: 5000 });
    expect(part.equals(content.subarray(1000, 6000))).toBe(true);
  });

  it('writes from a Readable source and replaces existing content', async () => {
    const path = join(dir, 'streamed.txt');
    await client.writeFile(path, 'old content that is longer');
    const parts = ['one ', 'two ', 'three'];
    const written = await client.writeFile(path, Readable.from(parts.map((p) => Buffer.from(p))));
    expect(written.size).toBe('one two three'.length);
    expect(await readFile(path, 'utf8')).toBe('one two three');
  });

  it('reports a failing source instead of leaving the upload hanging', async () => {
    const source = new Readable({
      read() {
        this.destroy(new Error('disk on fire'));
      },
    });
    await expect(client.writeFile(join(dir, 'never.txt'), source)).rejects.toThrow('disk on fire');
  });

  it('stats, lists, makes directories, renames and removes', async () => {
    const base = join(dir, 'tree');
    const made = await client.mkdir(join(base, 'a', 'b'), { parents: true, mode: 0o750 });
    expect(made).toMatchObject({ name: 'b', type: 'dir', mode: 0o750 });
    await client.writeFile(join(base, 'z.txt'), 'zzz');
    await client.writeFile(join(base, 'c.txt'), 'c');

    const info = await client.stat(join(base, 'z.txt'));
    expect(info).toMatchObject({ name: 'z.txt', path: join(base, 'z.txt'), type: 'file', size: 3, mode: 0o644 });
    expect(info.mtimeMs).toBeGreaterThan(0);

    const entries = await client.list(base);
    expect(entries.map((e) => [e.name, e.type])).toEqual([
      ['a', 'dir'],
      ['c.txt', 'file'],
      ['z.txt', 'file'],
    ]);

    const renamed = await client.rename(join(base, 'z.txt'), join(base, 'a', 'y.txt'));
    expect(renamed).toMatchObject({ name: 'y.txt', size: 3 });
    await expect(client.stat(join(base, 'z.txt'))).rejects.toMatchObject({ code: 'not_found' });

    await expect(client.remove(join(base, 'a'))).rejects.toMatchObject({ code: 'not_empty' });
    await client.remove(join(base, 'c.txt'));
    await client.remove(join(base, 'a'), { recursive: true });
    expect((await client.list(base)).map((e) => e.name)).toEqual([]);
  });

  it('reports a missing path as not_found, with the agent message', async () => {
    await expect(client.stat(join(dir, 'missing'))).rejects.toMatchObject({ name: 'SandboxError', code: 'not_found' });
    await expect(client.readFileBuffer(join(dir, 'missing'))).rejects.toMatchObject({ code: 'not_found' });
  });

  it('emits is_directory on the stream when reading a directory', async () => {
    const stream = client.readFile(dir);
    const error = await new Promise((resolve) => stream.on('error', resolve));
    expect(error).toMatchObject({ name: 'SandboxError', code: 'is_directory' });
  });

  it('refuses relative paths', async () => {
    await expect(client.stat('relative/path')).rejects.toMatchObject({ code: 'invalid_argument' });
  });

  it('cancels a read when its stream is destroyed', async () => {
    const path = join(dir, 'big-read.bin');
    await client.writeFile(path, Buffer.alloc(4 * 1024 * 1024, 9));
    const stream = client.readFile(path);
    const first = await new Promise<Buffer>((resolve) => stream.once('data', resolve));
    expect(first.length).toBeGreaterThan(0);
    stream.destroy();
    // The session keeps serving after the cancel.
    await expect(client.info()).resolves.toMatchObject({ mode: 'host' });
  });
});

describe('operations refused or unknown', () => {
  it('answers an unknown operation with unknown_operation', async () => {
    await expect(client.request('nope', {})).rejects.toMatchObject({ code: 'unknown_operation' });
  });

  it('does not set the clock or power off outside a VM', async () => {
    await expect(client.setTime(Date.now())).rejects.toMatchObject({ code: 'not_permitted' });
    await expect(client.power('poweroff')).rejects.toMatchObject({ code: 'not_permitted' });
    await expect(client.power('reboot')).rejects.toMatchObject({ code: 'not_permitted' });
  });
});

describe('tcp.connect', () => {
  it('connects to a listener inside the agent and carries bytes both ways', async () => {
    const server = client.exec({
      argv: [
        'python3',
        '-c',
        [
          'import socket, sys',
          's = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(1)',
          'print(s.getsockname()[1], flush=True)',
          'c, _ = s.accept()',
          'while True:',
          '    d = c.recv(65536)',
          '    if not d: break',
          '    c.sendall(d)',
          'c.close()',
        ].join('\n'),
      ],
      timeoutMs: 30_000,
    });
    const port = Number(await firstLine(server));
    const socket = await client.tcpConnect(port);
    const payload = randomBytes(1024 * 1024);
    const echoed = new Promise<Buffer>((resolve, reject) => {
      const chunks: Buffer[] = [];
      socket.on('data', (chunk: Buffer) => chunks.push(chunk));
      socket.on('end', () => resolve(Buffer.concat(chunks)));
      socket.on('error', reject);
    });
    socket.end(payload);
    expect(sha256(await echoed)).toBe(sha256(payload));
    await expect(server.result).resolves.toMatchObject({ exitCode: 0 });
  });

  it('rejects with connection_refused when nothing listens', async () => {
    const probe = await client.run({
      argv: ['python3', '-c', 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'],
    });
    const freePort = Number(probe.stdout.toString().trim());
    await expect(client.tcpConnect(freePort, '127.0.0.1')).rejects.toMatchObject({ code: 'connection_refused' });
  });
});

function* chunksOf(data: Buffer, size: number): Generator<Buffer> {
  for (let i = 0; i < data.length; i += size) yield data.subarray(i, i + size);
}

async function firstLine(proc: ExecProcess): Promise<string> {
  let seen = '';
  for await (const chunk of proc.stdout as AsyncIterable<Buffer>) {
    seen += chunk.toString();
    const newline = seen.indexOf('\n');
    if (newline >= 0) {
      proc.stdout.destroy();
      return seen.slice(0, newline);
    }
  }
  throw new Error(`the process printed no line: ${seen}`);
}

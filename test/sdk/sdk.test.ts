import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MicrovmClient, MicrovmError, Sandbox, type ClientOptions, type SandboxEvent } from '../../src/sdk/index.js';
import { startTestDaemon, type TestDaemon } from '../support/daemon-harness.js';

let daemon: TestDaemon;
let sandbox: Sandbox;
const transports: Record<string, () => ClientOptions> = {
  'the Unix socket': () => ({ socketPath: daemon.socketPath }),
  'a URL with a bearer token': () => ({ url: daemon.url!, token: daemon.token! }),
};

beforeAll(async () => {
  daemon = await startTestDaemon({ tcp: true });
  sandbox = await Sandbox.create({ socketPath: daemon.socketPath, labels: { suite: 'sdk' } });
});

afterAll(async () => {
  await sandbox?.[Symbol.asyncDispose]();
  expect(await daemon.stop()).toEqual([]);
});

async function failure(promise: Promise<unknown>): Promise<MicrovmError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(MicrovmError);
  return error as MicrovmError;
}

const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

it('creates a running sandbox with a generated name', () => {
  expect(sandbox.name).toMatch(/^[a-z0-9][a-z0-9-]*$/);
  expect(sandbox.id).toMatch(/^[0-9a-f-]{36}$/);
  expect(sandbox.info).toMatchObject({ state: 'running', labels: { suite: 'sdk' } });
});

describe.each(Object.entries(transports))('over %s', (_label, options) => {
  let box: Sandbox;
  beforeAll(async () => {
    box = await Sandbox.connect(sandbox.id, options());
  });

  it('connects by id and by name, and lists', async () => {
    expect(box.name).toBe(sandbox.name);
    expect((await Sandbox.connect(sandbox.name, options())).id).toBe(sandbox.id);
    expect((await Sandbox.list(options())).map((s) => s.id)).toContain(sandbox.id);
    expect((await box.refresh()).state).toBe('running');
    const client = new MicrovmClient(options());
    expect((await client.health()).status).toBe('ok');
    expect((await client.version()).apiVersion).toBe('v1');
    expect((await client.system()).limits.maxSandboxes).toBeGreaterThan(0);
    expect((await client.templates()).find((t) => t.default)?.built).toBe(true);
  });

  it('execs: a non-zero exit is a result, output streams to the callbacks', async () => {
    const seen = { out: '', err: '' };
    const result = await box.exec('echo out; echo err >&2; exit 3', { onStdout: (t) => (seen.out += t), onStderr: (t) => (seen.err += t) });
    expect(result).toMatchObject({ exitCode: 3, signal: null, timedOut: false, stdout: 'out\n', stderr: 'err\n' });
    expect(seen).toEqual({ out: 'out\n', err: 'err\n' });
    expect(result.durationMs).toBeGreaterThanOrEqual(0);
  });

  it('execs an argv with cwd and env', async () => {
    const result = await box.exec(['sh', '-c', 'pwd; echo "$GREETING"'], { cwd: '/tmp', env: { GREETING: 'hello there' } });
    expect(result.stdout).toBe('/tmp\nhello there\n');
  });

  it('feeds stdin from a string and from a stream', async () => {
    expect((await box.exec('cat', { stdin: 'from a string' })).stdout).toBe('from a string');
    const data = randomBytes(3 * 1024 * 1024);
    const source = Readable.from((function* () {
      for (let offset = 0; offset < data.length; offset += 100_000) yield data.subarray(offset, offset + 100_000);
    })());
    const result = await box.exec('sha256sum', { stdin: source });
    expect(result.stdout.split(' ')[0]).toBe(sha256(data));
  });

  it('ends a command at timeoutMs', async () => {
    const result = await box.exec('sleep 30', { timeoutMs: 500 });
    expect(result.timedOut).toBe(true);
    expect(result.durationMs).toBeLessThan(20_000);
  });

  it('spawns a background process: writeStdin, closeStdin, wait', async () => {
    const handle = await box.spawn('cat; echo done', { stdin: true });
    expect(handle.pid).toBeGreaterThan(0);
    const echoed = new Promise<string>((resolve) => handle.stdout.once('data', (chunk: Buffer) => resolve(chunk.toString())));
    await handle.writeStdin('first line\n');
    expect(await echoed).toBe('first line\n');
    await handle.writeStdin(Buffer.from('second\n'));
    handle.closeStdin();
    const result = await handle.wait();
    expect(result).toMatchObject({ exitCode: 0, stdout: 'first line\nsecond\ndone\n' });
    expect((await failure(handle.writeStdin('late'))).code).toBe('invalid_state');
  });

  it('kills and signals a spawned process', async () => {
    const sleeper = await box.spawn('sleep 60');
    sleeper.kill();
    expect(await sleeper.wait()).toMatchObject({ exitCode: null, signal: 'SIGKILL', timedOut: false });

    let ready!: () => void;
    const trapped = new Promise<void>((resolve) => (ready = resolve));
    const trapper = await box.spawn(['sh', '-c', 'trap "echo got TERM; exit 7" TERM; echo ready; while true; do sleep 1; done'], {
      onStdout: (text) => text.includes('ready') && ready(),
    });
    await trapped;
    trapper.signal('SIGTERM');
    expect(await trapper.wait()).toMatchObject({ exitCode: 7, stdout: 'ready\ngot TERM\n' });
  });

  it('writes and reads files as strings, Buffers and streams', async () => {
    const dir = `/tmp/sdk-${_label.length}`;
    expect(await box.files.write(`${dir}/text.txt`, 'héllo\n', { mkdirs: true })).toMatchObject({ path: `${dir}/text.txt`, size: 7 });
    expect(await box.files.read(`${dir}/text.txt`)).toBe('héllo\n');

    const bytes = randomBytes(1000);
    const written = await box.files.write(`${dir}/bytes.bin`, bytes, { mode: 0o600 });
    expect(written.sha256).toBe(sha256(bytes));
    expect(await box.files.read(`${dir}/bytes.bin`, { format: 'bytes' })).toEqual(bytes);
    expect((await box.files.stat(`${dir}/bytes.bin`)).mode & 0o777).toBe(0o600);

    const big = randomBytes(5 * 1024 * 1024 + 3);
    let progress = 0;
    const streamed = await box.files.write(`${dir}/big.bin`, Readable.from([big.subarray(0, 2_000_000), big.subarray(2_000_000)]), { onProgress: (n) => (progress = n) });
    expect(streamed).toMatchObject({ size: big.length, sha256: sha256(big) });
    expect(progress).toBe(big.length);
    const download = await box.files.read(`${dir}/big.bin`, { format: 'stream' });
    const hash = createHash('sha256');
    for await (const chunk of download) hash.update(chunk as Buffer);
    expect(hash.digest('hex')).toBe(sha256(big));
    expect((await box.exec(['sha256sum', `${dir}/big.bin`])).stdout.split(' ')[0]).toBe(sha256(big));
    await box.files.remove(dir, { recursive: true });
  });

  it('lists, stats, makes, renames and removes paths', async () => {
    const dir = `/tmp/tree-${_label.length}`;
    expect(await box.files.mkdir(`${dir}/a/b`, { parents: true })).toMatchObject({ type: 'dir', name: 'b', path: `${dir}/a/b` });
    await box.files.write(`${dir}/a/file.txt`, 'x');
    expect((await box.files.list(`${dir}/a`)).map((e) => `${e.name}:${e.type}`).sort()).toEqual(['b:dir', 'file.txt:file']);
    expect(await box.files.stat(`${dir}/a/file.txt`)).toMatchObject({ type: 'file', size: 1 });
    expect(await box.files.rename(`${dir}/a/file.txt`, `${dir}/moved.txt`)).toMatchObject({ path: `${dir}/moved.txt`, type: 'file' });
    expect(await box.files.exists(`${dir}/a/file.txt`)).toBe(false);
    expect(await box.files.exists(`${dir}/moved.txt`)).toBe(true);
    expect((await failure(box.files.remove(`${dir}/a`))).code).toBe('not_empty');
    await box.files.remove(`${dir}/a`, { recursive: true });
    await box.files.remove(`${dir}/moved.txt`);
    expect(await box.files.list(dir)).toEqual([]);
    await box.files.remove(dir);
    expect(await box.files.exists(dir)).toBe(false);
  });

  it('tails the serial console', async () => {
    let text = '';
    for await (const chunk of box.logs({ tail: 5 })) text += chunk;
    const lines = text.split('\n').filter((line) => line !== '');
    expect(lines.length).toBeGreaterThan(0);
    expect(lines.length).toBeLessThanOrEqual(5);
  });

  it('runs on a pseudo-terminal and resizes it', async () => {
    expect((await box.exec('stty size', { pty: { rows: 30, cols: 100 } })).stdout).toBe('30 100\r\n');
    const shell = await box.spawn('read line; stty size', { pty: { rows: 10, cols: 40 }, stdin: true });
    shell.resize(12, 50);
    await shell.writeStdin('go\r');
    expect((await shell.wait()).stdout).toContain('12 50');
  });

  it('follows the console until aborted', async () => {
    const stop = new AbortController();
    let text = '';
    for await (const chunk of box.logs({ tail: 1, follow: true, signal: stop.signal })) {
      text += chunk;
      stop.abort();
    }
    expect(text.length).toBeGreaterThan(0);
  });

  it('reports the API error codes', async () => {
    const missing = await failure(Sandbox.connect('no-such-sandbox', options()));
    expect(missing).toMatchObject({ code: 'not_found', status: 404 });
    expect(missing.requestId).toMatch(/^[0-9a-f-]{36}$/);
    expect(missing.message).toContain('no-such-sandbox');
    expect((await failure(box.files.stat('/no/such/file'))).code).toBe('not_found');
    expect((await failure(box.files.read('relative/path'))).code).toBe('invalid_argument');
    expect((await failure(box.exec('pwd', { cwd: 'relative' }))).code).toBe('invalid_argument');
    expect((await failure(box.exec([]))).code).toBe('invalid_argument');
    expect((await failure(box.resume())).code).toBe('invalid_state');
    expect((await failure(new MicrovmClient(options()).buildTemplate('no-such-template'))).code).toBe('not_found');
  });
});

it('follows the lifecycle over a URL, with state events, and refuses what the state does not allow', async () => {
  const options = { url: daemon.url!, token: daemon.token! };
  const client = new MicrovmClient(options);
  const events: SandboxEvent[] = [];
  const listening = new AbortController();
  const streaming = client.events((event) => events.push(event), { signal: listening.signal });

  const box = await Sandbox.create({ ...options, name: 'sdk-lifecycle', cpus: 1, memoryMiB: 256 });
  try {
    expect(box.info).toMatchObject({ name: 'sdk-lifecycle', vcpus: 1, memoryMiB: 256, state: 'running' });
    expect((await failure(Sandbox.create({ ...options, name: 'sdk-lifecycle' }))).code).toBe('already_exists');
    expect((await box.pause()).state).toBe('paused');
    expect((await failure(box.pause())).code).toBe('invalid_state');
    expect((await box.resume()).state).toBe('running');
    expect((await box.stop({ timeoutMs: 20_000 })).state).toBe('stopped');
    // Refused before the WebSocket upgrade, as problem+json.
    expect((await failure(box.exec('true'))).code).toBe('invalid_state');
    expect((await failure(box.files.stat('/'))).code).toBe('invalid_state');
    expect((await box.start()).state).toBe('running');
    expect((await box.exec('echo back')).stdout).toBe('back\n');
  } finally {
    await box.destroy();
  }
  expect((await failure(Sandbox.connect('sdk-lifecycle', options))).code).toBe('not_found');
  await box[Symbol.asyncDispose]();
  listening.abort();
  await streaming;
  const states = events.filter((e) => e.type === 'state' && e.id === box.id).map((e) => (e.type === 'state' ? e.state : ''));
  expect(states).toEqual(expect.arrayContaining(['running', 'paused', 'stopped']));
});

it('says daemon_unreachable, naming the socket, when nothing listens', async () => {
  const error = await failure(Sandbox.list({ socketPath: `${daemon.dataDir}/no-such.sock` }));
  expect(error).toMatchObject({ code: 'daemon_unreachable', status: 503 });
  expect(error.message).toContain(`${daemon.dataDir}/no-such.sock`);
  const url = new URL(daemon.url!);
  url.port = '1';
  const refused = await failure(new MicrovmClient({ url: url.toString(), token: 'x' }).health());
  expect(refused.code).toBe('daemon_unreachable');
  expect(refused.message).toContain(url.host);
});

it('is unauthorized over a URL without the token', async () => {
  expect(await failure(Sandbox.list({ url: daemon.url!, token: 'wrong' }))).toMatchObject({ code: 'unauthorized', status: 401 });
  const saved = process.env.MICROVM_TOKEN;
  delete process.env.MICROVM_TOKEN;
  try {
    expect((await failure(Sandbox.list({ url: daemon.url! }))).code).toBe('unauthorized');
  } finally {
    if (saved !== undefined) process.env.MICROVM_TOKEN = saved;
  }
});

it('finds the daemon from MICROVM_URL/MICROVM_TOKEN, else MICROVM_SOCKET', async () => {
  const saved = { url: process.env.MICROVM_URL, token: process.env.MICROVM_TOKEN, socket: process.env.MICROVM_SOCKET };
  try {
    process.env.MICROVM_URL = daemon.url!;
    process.env.MICROVM_TOKEN = daemon.token!;
    process.env.MICROVM_SOCKET = '/nonexistent.sock';
    const viaUrl = new MicrovmClient();
    expect(viaUrl.target).toBe(daemon.url);
    expect((await Sandbox.connect(sandbox.name)).id).toBe(sandbox.id);
    delete process.env.MICROVM_URL;
    process.env.MICROVM_SOCKET = daemon.socketPath;
    expect(new MicrovmClient().target).toBe(`unix:${daemon.socketPath}`);
    expect((await Sandbox.list()).map((s) => s.id)).toContain(sandbox.id);
  } finally {
    for (const [key, value] of [['MICROVM_URL', saved.url], ['MICROVM_TOKEN', saved.token], ['MICROVM_SOCKET', saved.socket]] as const) {
      if (value === undefined) delete process.env[key];
      else process.env[key] = value;
    }
  }
});

import { createHash, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, readdir, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSdkAppApi, type SdkAppApi } from '../../src/main/electron/sdk-app-api.js';
import { AppError, type TerminalEvent, type UploadProgress } from '../../src/shared/app-contract.js';
import type { SandboxEvent } from '../../src/shared/api/event-schemas.js';
import type { Sandbox as SandboxInfo } from '../../src/shared/api/sandbox-schemas.js';
import { MicrovmClient, Sandbox } from '../../src/sdk/index.js';
import { startTestDaemon, type TestDaemon } from '../support/daemon-harness.js';

// Electron main's AppApi (the SDK against a real daemon and a real VM), called directly as
// the IPC bridge calls it; only the save dialog is a stand-in.
let daemon: TestDaemon;
let api: SdkAppApi;
let hostDir: string;
let sandbox: SandboxInfo;
/** What the next save dialog answers: a path, or null for Cancel. */
let saveAnswer: string | null = null;
const events: SandboxEvent[] = [];
const connection: boolean[] = [];
let stopWatching: () => void;

const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

beforeAll(async () => {
  daemon = await startTestDaemon();
  hostDir = await mkdtemp(join(tmpdir(), 'electron-api-'));
  api = createSdkAppApi({
    client: new MicrovmClient({ socketPath: daemon.socketPath }),
    name: 'MicroVM Sandbox',
    version: '0.0.0-test',
    chooseSavePath: async () => saveAnswer,
    reconnectDelayMs: 200,
  });
  stopWatching = api.watchEvents(
    (event) => events.push(event),
    (connected) => connection.push(connected),
  );
  sandbox = await api.createSandbox({ name: 'desk', memoryMiB: 256, labels: { suite: 'electron' } });
});

afterAll(async () => {
  stopWatching?.();
  api?.closeStreams();
  if (daemon) {
    for (const info of await api.listSandboxes()) await api.deleteSandbox(info.id);
    expect(await daemon.stop()).toEqual([]);
  }
  if (hostDir) await rm(hostDir, { recursive: true, force: true });
});

async function eventually(check: () => void | Promise<void>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      await check();
      return;
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}

async function appError(promise: Promise<unknown>): Promise<AppError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(AppError);
  return error as AppError;
}

/** Guest-side checks go through the SDK directly, not through the API under test. */
const guest = () => Sandbox.connect(sandbox.id, { socketPath: daemon.socketPath });

it('says who it is and where the daemon is', async () => {
  expect(await api.appInfo()).toEqual({ name: 'MicroVM Sandbox', version: '0.0.0-test', shell: 'electron', daemon: `unix:${daemon.socketPath}` });
  expect((await api.system()).limits.maxSandboxes).toBeGreaterThan(0);
  expect((await api.templates()).some((template) => template.default && template.built)).toBe(true);
});

it('created a running sandbox, lists it, and reported it as events', async () => {
  expect(sandbox).toMatchObject({ name: 'desk', state: 'running', memoryMiB: 256, labels: { suite: 'electron' } });
  expect((await api.listSandboxes()).map((s) => s.id)).toEqual([sandbox.id]);
  await eventually(() => {
    expect(connection[0]).toBe(true);
    expect(events).toContainEqual(expect.objectContaining({ type: 'state', id: sandbox.id, state: 'running' }));
  });
  expect(events.some((event) => event.type === 'progress' && event.name === 'desk')).toBe(true);
});

it('reports what the VM costs', async () => {
  const usage = await api.usage();
  expect(usage.at).toBeGreaterThan(0);
  expect(usage.sandboxes.find((entry) => entry.id === sandbox.id)?.rssBytes).toBeGreaterThan(0);
});

it('runs a terminal on a pseudo-terminal: output, resize, and the exit status', async () => {
  const received: TerminalEvent[] = [];
  let output = '';
  const decoder = new TextDecoder();
  const session = api.openTerminal(sandbox.id, { cols: 80, rows: 24 }, (event) => {
    received.push(event);
    if (event.type === 'output') output += decoder.decode(event.data, { stream: true });
  });
  // Typed before the process is known to run: the session holds keystrokes until it does.
  session.write('stty size; echo "answer-$((6 * 7))"\n');
  await eventually(() => expect(output).toMatch(/24 80[^]*answer-42/));
  session.resize(132, 40);
  session.write('stty size\n');
  await eventually(() => expect(output).toContain('40 132'));
  session.write('exit 3\n');
  await eventually(() => expect(received.at(-1)).toEqual({ type: 'exit', exitCode: 3, signal: null }));
  expect(received.every((event) => event.type !== 'error')).toBe(true);
});

it('ends a terminal on close, and reports one it cannot open as an error with its code', async () => {
  const received: TerminalEvent[] = [];
  const session = api.openTerminal(sandbox.id, { cols: 80, rows: 24, argv: ['sleep', '600'] }, (event) => received.push(event));
  await new Promise((resolve) => setTimeout(resolve, 500));
  session.close();
  await eventually(() => expect(received.at(-1)).toMatchObject({ type: 'exit', signal: 'SIGKILL' }));

  const refused: TerminalEvent[] = [];
  api.openTerminal('no-such-sandbox', { cols: 80, rows: 24 }, (event) => refused.push(event));
  await eventually(() => expect(refused).toEqual([{ type: 'error', code: 'not_found', message: expect.stringContaining('no-such-sandbox') }]));
});

describe('files', () => {
  let big: Buffer;
  let small: Buffer;

  beforeAll(async () => {
    big = randomBytes(3 * 1024 * 1024 + 17);
    small = Buffer.from('small file\n');
    await mkdir(join(hostDir, 'project', 'src'), { recursive: true });
    await writeFile(join(hostDir, 'project', 'big.bin'), big);
    await writeFile(join(hostDir, 'project', 'src', 'small.txt'), small);
  });

  it('uploads two host files with progress; their sha256 match in the guest', async () => {
    const progress: UploadProgress[] = [];
    const job = api.uploadFiles(
      sandbox.id,
      '/root/upload',
      [
        { relativePath: 'project/big.bin', path: join(hostDir, 'project', 'big.bin'), size: big.length },
        { relativePath: 'project/src/small.txt', path: join(hostDir, 'project', 'src', 'small.txt'), size: small.length },
      ],
      (p) => progress.push(p),
    );
    expect(await job.result()).toEqual({ done: 2, failed: 0, cancelled: 0 });
    const big0 = progress.filter((p) => p.index === 0);
    expect(big0[0]).toMatchObject({ state: 'queued' });
    expect(big0.at(-1)).toMatchObject({ state: 'done', loaded: big.length, total: big.length });
    expect(big0.some((p) => p.state === 'uploading')).toBe(true);
    const sums = await (await guest()).exec('cd /root/upload/project && sha256sum big.bin src/small.txt');
    expect(sums.stdout).toBe(`${sha256(big)}  big.bin\n${sha256(small)}  src/small.txt\n`);
  });

  it('cancels an upload mid-way, leaving nothing in the guest', async () => {
    const huge = join(hostDir, 'huge.bin');
    // Sparse: large enough that the upload is still running when it is cancelled, without the disk space.
    await writeFile(huge, '');
    await truncate(huge, 256 * 1024 * 1024);
    const progress: UploadProgress[] = [];
    const job = api.uploadFiles(sandbox.id, '/root/upload', [{ relativePath: 'huge.bin', path: huge, size: 0 }], (p) => progress.push(p));
    await eventually(() => expect(progress.some((p) => p.state === 'uploading')).toBe(true));
    job.cancel(0);
    expect(await job.result()).toEqual({ done: 0, failed: 0, cancelled: 1 });
    expect(progress.at(-1)).toMatchObject({ state: 'cancelled' });
    expect(progress.at(-1)!.loaded).toBeLessThan(256 * 1024 * 1024);
    await rm(huge);
    // The daemon removes its temporary file once it notices the aborted request.
    await eventually(async () => expect((await api.listFiles(sandbox.id, '/root/upload')).map((entry) => entry.name)).toEqual(['project']), 10_000);
  });

  it('lists, makes and removes directories', async () => {
    await api.makeDirectory(sandbox.id, '/root/made/deep');
    expect(await api.listFiles(sandbox.id, '/root/made')).toEqual([expect.objectContaining({ name: 'deep', path: '/root/made/deep', type: 'dir' })]);
    await api.removePath(sandbox.id, '/root/made');
    expect((await api.listFiles(sandbox.id, '/root')).map((entry) => entry.name)).not.toContain('made');
    const missing = await appError(api.listFiles(sandbox.id, '/root/made'));
    expect(missing.code).toBe('not_found');
  });

  it('downloads a guest file to the path the save dialog gives, and nothing when it is cancelled', async () => {
    saveAnswer = join(hostDir, 'saved.bin');
    await api.downloadFile(sandbox.id, '/root/upload/project/big.bin');
    expect(sha256(await readFile(saveAnswer))).toBe(sha256(big));
    saveAnswer = null;
    await api.downloadFile(sandbox.id, '/root/upload/project/src/small.txt');
    expect((await readdir(hostDir)).sort()).toEqual(['project', 'saved.bin']);
    saveAnswer = join(hostDir, 'never.bin');
    expect((await appError(api.downloadFile(sandbox.id, '/root/upload'))).code).toBe('is_directory');
    expect((await appError(api.downloadFile(sandbox.id, '/root/nothing-here'))).code).toBe('not_found');
    expect(await readdir(hostDir)).not.toContain('never.bin');
  });
});

it('follows the serial console until unsubscribed', async () => {
  let text = '';
  const ends: unknown[] = [];
  const unsubscribe = api.followConsole(sandbox.id, (chunk) => (text += chunk), (error) => ends.push(error));
  await (await guest()).exec('echo console-marker-from-test > /dev/console');
  await eventually(() => expect(text).toContain('console-marker-from-test'));
  unsubscribe();
  await new Promise((resolve) => setTimeout(resolve, 200));
  expect(ends).toEqual([]);
});

it('takes, lists, restores, forks and deletes snapshots', async () => {
  const box = await guest();
  await box.files.write('/root/A', 'A');
  const first = await api.takeSnapshot(sandbox.id, 'first');
  expect(first).toMatchObject({ name: 'first', sandboxId: sandbox.id, current: true });
  await box.files.write('/root/B', 'B');
  const second = await api.takeSnapshot(sandbox.id);
  expect(second.parentId).toBe(first.id);

  const restored = await api.restoreSnapshot(sandbox.id, first.id);
  expect(restored).toMatchObject({ id: sandbox.id, state: 'running', currentSnapshotId: first.id });
  expect(await box.files.exists('/root/B')).toBe(false);
  const tree = await api.snapshotTree(sandbox.id);
  expect(tree.current).toBe(first.id);
  expect(tree.snapshots.map((s) => s.name)).toEqual(['first', second.name]);

  const fork = await api.forkSnapshot(sandbox.id, first.id, 'desk-fork');
  expect(fork).toMatchObject({ name: 'desk-fork', state: 'running' });
  expect((await (await Sandbox.connect(fork.id, { socketPath: daemon.socketPath })).exec('cat /root/A')).stdout).toBe('A');
  await api.deleteSandbox(fork.id);

  await api.deleteSnapshot(sandbox.id, second.id);
  await api.deleteSnapshot(sandbox.id, first.id);
  expect((await api.snapshotTree(sandbox.id)).snapshots).toEqual([]);
  await eventually(() => expect(events).toContainEqual(expect.objectContaining({ type: 'snapshot', action: 'restored', snapshotId: first.id })));
});

it('adds, lists and removes a port forward to a server in the guest', async () => {
  const started = await (await guest()).exec(['sh', '-c', 'mkdir -p /tmp/www && echo forwarded > /tmp/www/index.html && busybox httpd -p 127.0.0.1:8000 -h /tmp/www']);
  expect(started.exitCode).toBe(0);
  const forward = await api.addPort(sandbox.id, { guestPort: 8000 });
  expect(forward).toMatchObject({ sandboxId: sandbox.id, guestPort: 8000, address: '127.0.0.1', url: `http://127.0.0.1:${forward.hostPort}` });
  expect(await api.listPorts(sandbox.id)).toEqual([forward]);
  expect(await (await fetch(`${forward.url}/index.html`)).text()).toBe('forwarded\n');
  expect((await appError(api.addPort(sandbox.id, { guestPort: 80, hostPort: forward.hostPort }))).code).toBe('port_in_use');
  expect((await appError(api.addPort(sandbox.id, { guestPort: 80, address: '0.0.0.0' }))).message).toMatch(/^address: 0\.0\.0\.0 is not a loopback address/);
  await api.removePort(sandbox.id, forward.hostPort);
  expect(await api.listPorts(sandbox.id)).toEqual([]);
  expect((await appError(api.removePort(sandbox.id, forward.hostPort))).code).toBe('not_found');
});

it('pauses, resumes and stops through sandboxAction; the console follow ends with the run', async () => {
  expect((await api.sandboxAction(sandbox.id, 'pause')).state).toBe('paused');
  expect((await api.sandboxAction(sandbox.id, 'resume')).state).toBe('running');
  const ends: unknown[] = [];
  api.followConsole(sandbox.id, () => undefined, (error) => ends.push(error));
  await new Promise((resolve) => setTimeout(resolve, 300));
  expect((await api.sandboxAction(sandbox.id, 'stop')).state).toBe('stopped');
  await eventually(() => expect(ends).toHaveLength(1));
  expect(await api.display(sandbox.id)).toEqual({ available: false, reason: expect.stringMatching(/has no display: its template "minimal" defines none/) });
  const displayEvents: unknown[] = [];
  api.openDisplay(sandbox.id, (event) => displayEvents.push(event));
  await eventually(() => expect(displayEvents).toEqual([{ type: 'close', code: 1011, reason: expect.stringMatching(/^\[no_display\] /) }]));
});

it('rejects an unknown sandbox with AppError not_found everywhere', async () => {
  for (const call of [
    api.sandboxAction('no-such-sandbox', 'start'),
    api.deleteSandbox('no-such-sandbox'),
    api.listFiles('no-such-sandbox', '/'),
    api.snapshotTree('no-such-sandbox'),
    api.restoreSnapshot('no-such-sandbox', 'no-such-snapshot'),
    api.display('no-such-sandbox'),
    api.listPorts('no-such-sandbox'),
    api.addPort('no-such-sandbox', { guestPort: 80 }),
    api.removePort('no-such-sandbox', 8000),
  ]) {
    const error = await appError(call);
    expect(error.code).toBe('not_found');
    expect(error.message).toMatch(/no-such/);
  }
  expect((await appError(api.sandboxAction(sandbox.id, 'pause'))).code).toBe('invalid_state');
});

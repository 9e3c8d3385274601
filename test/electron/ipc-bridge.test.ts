import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { APP_CALLS, APP_STREAMS, AppError, IPC, type AppApi, type AppCall, type DisplayEvent, type TerminalEvent, type UploadProgress } from '../../src/shared/app-contract.js';
import type { StreamMessage } from '../../src/shared/ipc-protocol.js';
import { appSenderCheck, registerIpcBridge } from '../../src/main/electron/ipc-bridge.js';
import { rendererLocation } from '../../src/main/electron/renderer-location.js';
import { droppedFile, exposedInMainWorld, ipcMain, ipcRenderer, registeredChannels, resetSender, sender } from './electron-stub.js';
import { fakeMainApi, SANDBOX, type FakeRecord } from './fake-main-api.js';

vi.mock('electron', async () => (await import('./electron-stub.js')).electron);

// The preload and main's bridge wired together through the stubbed IPC: what the renderer
// calls on window.api must reach main's AppApi intact, and only from the app's own page.
let api: AppApi;
let record: FakeRecord;
let unregister: () => void;
const ourWindow = { webContents: { id: 1 }, isDestroyed: () => false };

beforeAll(async () => {
  await import('../../src/preload/index.js');
  api = exposedInMainWorld('api') as AppApi;
});

beforeEach(() => {
  const fake = fakeMainApi();
  record = fake.record;
  unregister = registerIpcBridge({
    ipcMain: ipcMain as never,
    api: fake.api,
    isTrustedSender: appSenderCheck(() => ourWindow, rendererLocation('/opt/app/out/renderer', {})),
  });
});

afterEach(() => {
  unregister();
  resetSender();
});

afterAll(() => {
  expect(registeredChannels()).toEqual({ handled: [], listened: [] });
});

/** Resolves once `check` passes, polling while port messages travel. */
async function eventually(check: () => void, timeoutMs = 2000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      check();
      return;
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  }
}

async function rejection(promise: Promise<unknown>): Promise<AppError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(Error);
  // contextBridge keeps only the message: the renderer reads the code back out of it.
  expect(error).not.toBeInstanceOf(AppError);
  return AppError.from(error);
}

const ARGS: Record<AppCall, unknown[]> = {
  appInfo: [],
  system: [],
  templates: [],
  listSandboxes: [],
  createSandbox: [{ name: 'alpha', memoryMiB: 256, labels: { team: 'a' } }],
  sandboxAction: ['alpha', 'pause'],
  deleteSandbox: ['alpha'],
  usage: [],
  listFiles: ['alpha', '/root'],
  makeDirectory: ['alpha', '/root/new dir'],
  removePath: ['alpha', '/root/old'],
  downloadFile: ['alpha', '/etc/hostname'],
  snapshotTree: ['alpha'],
  takeSnapshot: ['alpha', 'before upgrade'],
  restoreSnapshot: ['alpha', 'snap-1'],
  forkSnapshot: ['alpha', 'snap-1', 'beta'],
  deleteSnapshot: ['alpha', 'snap-1'],
  display: ['alpha'],
  listPorts: ['alpha'],
  addPort: ['alpha', { guestPort: 8000, hostPort: 18000 }],
  removePort: ['alpha', 18000],
};

describe('the preload', () => {
  it('exposes exactly the contract methods as window.api', () => {
    expect(Object.keys(api).sort()).toEqual([...APP_CALLS, ...APP_STREAMS].sort());
    for (const method of Object.values(api)) expect(typeof method).toBe('function');
  });

  it('has main answer every contract call on its own channel', () => {
    expect(registeredChannels().handled.sort()).toEqual(APP_CALLS.map((method) => IPC.call(method)).sort());
    expect(registeredChannels().listened).toEqual([IPC.stream]);
  });
});

describe('calls', () => {
  it('reach main with their arguments and return its answer', async () => {
    for (const method of APP_CALLS) {
      record.calls = [];
      const value = await (api[method] as (...args: unknown[]) => Promise<unknown>)(...ARGS[method]);
      expect(record.calls, method).toEqual([[method, ARGS[method]]]);
      if (method === 'listSandboxes') expect(value).toEqual([SANDBOX]);
      if (method === 'sandboxAction') expect(value).toMatchObject({ id: SANDBOX.id, state: 'stopped' });
    }
    expect(await api.appInfo()).toEqual({ name: 'MicroVM Sandbox', version: '0.1.0', shell: 'electron', daemon: 'unix:/run/test.sock' });
  });

  it('reject with the AppError main raised, code intact', async () => {
    const error = await rejection(api.deleteSandbox('missing'));
    expect(error).toMatchObject({ code: 'not_found', message: 'sandbox "missing" not found' });
    expect(await rejection(api.snapshotTree('broken'))).toMatchObject({ code: 'internal', message: 'something broke' });
  });

  it('refuse argument shapes main does not accept, without calling it', async () => {
    const bad: [string, unknown[], RegExp][] = [
      ['sandboxAction', ['alpha', 'explode'], /sandboxAction: argument 2 \(action\) must be one of start, stop, pause, resume, restart/],
      ['listFiles', ['alpha'], /listFiles: argument 2 \(path\) must be a non-empty string/],
      ['createSandbox', ['alpha'], /createSandbox: argument 1 \(request\) must be an object/],
      ['deleteSandbox', ['alpha', 'extra'], /deleteSandbox: expected at most 1 argument\(s\), got 2/],
      ['takeSnapshot', ['alpha', 42], /takeSnapshot: argument 2 \(name\) must be a non-empty string or omitted/],
      ['addPort', ['alpha', { guestPort: '8000' }], /addPort: argument 2 \(request\) must be an object with guestPort a port number/],
      ['removePort', ['alpha', '../../sandboxes/beta'], /removePort: argument 2 \(hostPort\) must be a port number \(1-65535\)/],
    ];
    for (const [method, args, message] of bad) {
      const error = await rejection((api[method as AppCall] as (...a: unknown[]) => Promise<unknown>)(...args));
      expect(error.code, method).toBe('invalid_argument');
      expect(error.message).toMatch(message);
    }
    expect(record.calls).toEqual([]);
    // An optional argument may be left out.
    await api.takeSnapshot('alpha');
    expect(record.calls).toEqual([['takeSnapshot', ['alpha']]]);
  });

  it('are refused from a page other than ours, or from a WebContents not our window', async () => {
    sender.url = 'https://example.com/';
    expect(await rejection(api.listSandboxes())).toMatchObject({ code: 'forbidden' });
    sender.url = 'file:///opt/app/out/renderer/other.html';
    expect(await rejection(api.listSandboxes())).toMatchObject({ code: 'forbidden' });
    resetSender();
    sender.id = 2;
    expect(await rejection(api.deleteSandbox('alpha'))).toMatchObject({ code: 'forbidden' });
    expect(record.calls).toEqual([]);
    resetSender();
    sender.url = 'file:///opt/app/out/renderer/index.html#/sandboxes/alpha';
    expect(await api.listSandboxes()).toEqual([SANDBOX]);
  });

  it('on a channel main does not handle are refused', async () => {
    const error = await ipcRenderer.invoke('api:call:formatDisk').catch((e: unknown) => e);
    expect(String(error)).toContain("No handler registered for 'api:call:formatDisk'");
  });
});

/** Opens a stream by hand, as a preload that is not ours might, and collects what main answers. */
function rawStream(request: unknown): { messages: StreamMessage[]; closed: () => boolean } {
  const { port1, port2 } = new MessageChannel();
  const messages: StreamMessage[] = [];
  let closed = false;
  port1.onmessage = (event: MessageEvent<StreamMessage>) => messages.push(event.data);
  (port1 as unknown as { on(event: 'close', listener: () => void): void }).on('close', () => (closed = true));
  ipcRenderer.postMessage(IPC.stream, request, [port2 as never]);
  return { messages, closed: () => closed };
}

describe('streams', () => {
  it('carry terminal keystrokes and resizes to main, and output and exit back', async () => {
    const events: TerminalEvent[] = [];
    const session = api.openTerminal('alpha', { cols: 80, rows: 24 }, (event) => events.push(event));
    session.write('ls\r');
    session.resize(120, 40);
    await eventually(() => expect(events).toHaveLength(1));
    expect(record.terminal.opened).toEqual([['alpha', { cols: 80, rows: 24 }]]);
    expect(record.terminal.writes).toEqual(['ls\r']);
    expect(record.terminal.resizes).toEqual([[120, 40]]);
    expect(events[0]).toMatchObject({ type: 'output' });
    expect(new TextDecoder().decode((events[0] as { data: Uint8Array }).data)).toBe('echo:ls\r');
    session.close();
    await eventually(() => expect(record.terminal.closed).toBe(1));
    // Once closed, nothing more reaches main.
    session.write('after');
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(record.terminal.writes).toEqual(['ls\r']);
  });

  it('report a terminal that cannot start as an error event with its code', async () => {
    const events: TerminalEvent[] = [];
    const session = api.openTerminal('missing', { cols: 80, rows: 24 }, (event) => events.push(event));
    await eventually(() => expect(events).toEqual([{ type: 'error', code: 'not_found', message: 'sandbox "missing" not found' }]));
    session.close();
    const refused: TerminalEvent[] = [];
    api.openTerminal('alpha', { cols: 0, rows: 24 }, (event) => refused.push(event));
    await eventually(() => expect(refused).toHaveLength(1));
    expect(refused[0]).toMatchObject({ type: 'error', code: 'invalid_argument', message: expect.stringContaining('openTerminal: argument 2 (options)') });
  });

  it('carry display bytes both ways, and end with one close', async () => {
    const events: DisplayEvent[] = [];
    const connection = api.openDisplay('alpha', (event) => events.push(event));
    await eventually(() => expect(events).toEqual([{ type: 'open' }]));
    connection.send(new Uint8Array([1, 2, 3]));
    await eventually(() => expect(events).toHaveLength(2));
    expect(record.display.opened).toEqual(['alpha']);
    expect(record.display.sent.map((bytes) => [...bytes])).toEqual([[1, 2, 3]]);
    const echoed = events[1] as { type: 'data'; data: Uint8Array };
    expect(echoed.type).toBe('data');
    expect([...echoed.data]).toEqual([...new TextEncoder().encode('RFB:'), 1, 2, 3]);
    connection.close();
    await eventually(() => expect(record.display.closed).toBe(1));
    expect(events.filter((event) => event.type === 'close')).toHaveLength(1);
    const failed: DisplayEvent[] = [];
    api.openDisplay('missing', (event) => failed.push(event));
    await eventually(() => expect(failed).toEqual([{ type: 'close', code: 1011, reason: '[not_found] sandbox "missing" not found' }]));
  });

  it('deliver events and connection changes until unsubscribed', async () => {
    const seen: unknown[] = [];
    const unsubscribe = api.watchEvents(
      (event) => seen.push(event),
      (connected) => seen.push({ connected }),
    );
    await eventually(() => expect(seen).toEqual([{ connected: true }, expect.objectContaining({ type: 'state', id: SANDBOX.id, state: 'running' })]));
    unsubscribe();
    await eventually(() => expect(record.watch.unsubscribed).toBe(1));
  });

  it('follow the console until main ends it, passing on why', async () => {
    const text: string[] = [];
    const ends: unknown[] = [];
    api.followConsole('alpha', (chunk) => text.push(chunk), (error) => ends.push(error));
    await eventually(() => expect(text).toEqual(['[    0.000000] Linux version 6.1\n']));
    record.console.data!('login: ');
    record.console.end!({ code: 'invalid_state', message: 'sandbox alpha stopped' });
    await eventually(() => expect(ends).toEqual([{ code: 'invalid_state', message: 'sandbox alpha stopped' }]));
    expect(text).toEqual(['[    0.000000] Linux version 6.1\n', 'login: ']);
    // The end closed the stream on both sides.
    await eventually(() => expect(record.console.unsubscribed).toBe(1));
  });

  it('stop following the console when the renderer unsubscribes', async () => {
    const unsubscribe = api.followConsole('alpha', () => undefined);
    await new Promise((resolve) => setTimeout(resolve, 20));
    unsubscribe();
    await eventually(() => expect(record.console.unsubscribed).toBe(1));
  });

  it('upload dropped files by their host path, with progress, cancel and the result', async () => {
    const progress: UploadProgress[] = [];
    const items = [
      { relativePath: 'notes.txt', file: droppedFile('hello', 'notes.txt', '/home/me/notes.txt') },
      { relativePath: 'src/main.c', file: droppedFile('int main;', 'main.c', '/home/me/src/main.c') },
    ];
    const job = api.uploadFiles('alpha', '/root', items, (p) => progress.push(p));
    await eventually(() => expect(progress).toHaveLength(2));
    expect(record.upload.items).toEqual([
      { relativePath: 'notes.txt', path: '/home/me/notes.txt', size: 5 },
      { relativePath: 'src/main.c', path: '/home/me/src/main.c', size: 9 },
    ]);
    expect(progress.map((p) => [p.relativePath, p.state, p.total])).toEqual([
      ['notes.txt', 'queued', 5],
      ['src/main.c', 'queued', 9],
    ]);
    job.cancel(1);
    job.cancel();
    await eventually(() => expect(record.upload.cancels).toEqual([1, undefined]));
    record.upload.finish!();
    expect(await job.result()).toEqual({ done: 2, failed: 0, cancelled: 0 });
  });

  it('reject an upload main refuses through result(), with its code', async () => {
    const job = api.uploadFiles('alpha', '/root', [{ relativePath: '', file: droppedFile('x', 'x', '/x') }], () => undefined);
    const error = await rejection(job.result());
    expect(error.code).toBe('invalid_argument');
    expect(error.message).toContain('uploadFiles: argument 3 (items)');
  });

  it('refuse an unknown method, bad arguments and a foreign page, closing the port', async () => {
    const unknown = rawStream({ method: 'formatDisk', args: [] });
    await eventually(() => expect(unknown.messages).toEqual([{ kind: 'failed', error: { code: 'invalid_argument', message: 'unknown stream method "formatDisk"' } }]));
    await eventually(() => expect(unknown.closed()).toBe(true));

    const shapeless = rawStream('watchEvents');
    await eventually(() => expect(shapeless.messages[0]).toMatchObject({ kind: 'failed', error: { code: 'invalid_argument' } }));

    const badArgs = rawStream({ method: 'followConsole', args: 'alpha' });
    await eventually(() => expect(badArgs.messages).toEqual([{ kind: 'failed', error: { code: 'invalid_argument', message: 'followConsole: the arguments must be a list' } }]));

    sender.url = 'http://localhost:5173/';
    const foreign = rawStream({ method: 'watchEvents', args: [] });
    await eventually(() => expect(foreign.messages).toEqual([{ kind: 'failed', error: expect.objectContaining({ code: 'forbidden' }) }]));
    await eventually(() => expect(foreign.closed()).toBe(true));
  });

  it('drop control messages of unknown shape without disturbing the stream', async () => {
    const { port1, port2 } = new MessageChannel();
    const messages: StreamMessage[] = [];
    port1.onmessage = (event: MessageEvent<StreamMessage>) => messages.push(event.data);
    ipcRenderer.postMessage(IPC.stream, { method: 'openTerminal', args: ['alpha', { cols: 80, rows: 24 }] }, [port2 as never]);
    port1.postMessage({ kind: 'resize', cols: -1, rows: 'tall' });
    port1.postMessage({ kind: 'write', data: { not: 'text' } });
    port1.postMessage('garbage');
    port1.postMessage({ kind: 'write', data: 'ok' });
    await eventually(() => expect(record.terminal.writes).toEqual(['ok']));
    expect(record.terminal.resizes).toEqual([]);
    port1.close();
    await eventually(() => expect(record.terminal.closed).toBe(1));
  });
});

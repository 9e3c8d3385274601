import { randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { basename, dirname, join, posix } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { WebSocket } from 'ws';
import { AppError, type AppErrorInfo, type DisplayConnection, type DisplayEvent, type DisplayInfo, type TerminalEvent, type TerminalSession } from '../../shared/app-contract.js';
import type { DisplaySession } from '../../shared/api/display-schemas.js';
import type { Sandbox, SandboxList } from '../../shared/api/sandbox-schemas.js';
import type { UsageList } from '../../shared/api/usage-schemas.js';
import type { MainAppApi } from '../../shared/ipc-protocol.js';
import { ExecHandle, SandboxComputer, SandboxFiles, SandboxPorts, SandboxSnapshots, type MicrovmClient } from '../../sdk/index.js';
import { startHostUpload } from './host-upload-job.js';
import { toAppError } from './sdk-errors.js';

export interface SdkAppApiOptions {
  client: MicrovmClient;
  name: string;
  version: string;
  /** Asks the user where to save a guest file (a save dialog); null when they cancel. */
  chooseSavePath(suggestedName: string): Promise<string | null>;
  /** How long watchEvents waits before reconnecting to a daemon that went away. */
  reconnectDelayMs?: number;
}

/** What a terminal runs when the renderer names no program. */
const LOGIN_SHELL = ['/bin/sh', '-l'];
/** How much of the serial console followConsole replays before new output. */
const CONSOLE_TAIL_LINES = 1000;

export interface SdkAppApi extends MainAppApi {
  /**
   * Ends every stream still open (events, consoles, terminals, uploads). A daemon hosted in
   * this process waits for its open responses before it closes, so quitting does this first.
   */
  closeStreams(): void;
}

/**
 * The whole AppApi on the Node side, for Electron's main process: every method is the SDK
 * against one daemon, and every failure an AppError keeping the daemon's stable code.
 */
export function createSdkAppApi(options: SdkAppApiOptions): SdkAppApi {
  const { client } = options;
  const openStreams = new Set<() => void>();
  /** Registers a stream's closer; the returned closer also forgets it. */
  const tracked = (close: () => void) => {
    const once = () => {
      if (openStreams.delete(once)) close();
    };
    openStreams.add(once);
    return once;
  };
  const reconnectDelayMs = options.reconnectDelayMs ?? 2000;
  const files = (id: string) => new SandboxFiles(client, () => id);
  // The SDK's Sandbox keeps a copy of the sandbox's record up to date; here nobody holds one.
  const snapshots = (id: string) => new SandboxSnapshots(client, () => id, () => undefined);
  const ports = (id: string) => new SandboxPorts(client, () => id);
  const sandboxRoute = (id: string, suffix = '') => `/sandboxes/${encodeURIComponent(id)}${suffix}`;

  return {
    appInfo: reported(async () => ({ name: options.name, version: options.version, shell: 'electron' as const, daemon: client.target })),
    system: reported(() => client.system()),
    templates: reported(() => client.templates()),

    listSandboxes: reported(async () => (await client.request<SandboxList>('GET', '/sandboxes')).sandboxes),
    createSandbox: reported((request) => client.request<Sandbox>('POST', '/sandboxes', { json: request })),
    sandboxAction: reported((id, action) => client.request<Sandbox>('POST', sandboxRoute(id, `/${action}`))),
    deleteSandbox: reported(async (id) => {
      await client.request('DELETE', sandboxRoute(id));
    }),
    usage: reported(() => client.request<UsageList>('GET', '/usage')),

    watchEvents(onEvent, onConnection) {
      const stop = new AbortController();
      void (async () => {
        let connected: boolean | null = null;
        const report = (now: boolean) => {
          if (now === connected || stop.signal.aborted) return;
          connected = now;
          onConnection?.(now);
        };
        while (!stop.signal.aborted) {
          try {
            await client.health();
            report(true);
            await client.events((event) => stop.signal.aborted || onEvent(event), { signal: stop.signal });
          } catch {
            // A daemon that is gone or restarting: reported as a drop, then tried again.
          }
          report(false);
          await delay(reconnectDelayMs, stop.signal);
        }
      })();
      return tracked(() => stop.abort());
    },

    openTerminal(id, terminal, onEvent): TerminalSession {
      let closed = false;
      const emit = (event: TerminalEvent) => {
        if (event.type !== 'output') openStreams.delete(close);
        if (!closed || event.type !== 'output') onEvent(event);
      };
      const started = ExecHandle.start(client, id, terminal.argv ?? LOGIN_SHELL, {
        pty: { rows: terminal.rows, cols: terminal.cols },
        stdin: true,
        env: { TERM: 'xterm-256color' },
      });
      started.then(
        (handle) => {
          handle.stdout.on('data', (chunk: Buffer) => emit({ type: 'output', data: new Uint8Array(chunk) }));
          handle.stderr.resume();
          handle.wait().then(
            (result) => emit({ type: 'exit', exitCode: result.exitCode, signal: result.signal }),
            (error: unknown) => emit({ type: 'error', ...info(error) }),
          );
        },
        (error: unknown) => emit({ type: 'error', ...info(error) }),
      );
      // Keystrokes and resizes keep their order, and wait for the process to run.
      let queue: Promise<unknown> = started;
      const whenStarted = (action: (handle: ExecHandle) => unknown) => {
        queue = queue.then(() => started).then(action).catch(() => undefined);
      };
      const close = tracked(() => {
        closed = true;
        whenStarted((handle) => handle.kill());
      });
      return {
        write: (data) => whenStarted((handle) => handle.writeStdin(data)),
        resize: (cols, rows) => whenStarted((handle) => handle.resize(rows, cols)),
        close,
      };
    },

    followConsole(id, onData, onEnd) {
      const stop = new AbortController();
      const forget = tracked(() => stop.abort());
      void (async () => {
        let ended: AppErrorInfo | null = null;
        try {
          const response = await client.stream('GET', sandboxRoute(id, '/logs'), {
            query: { tail: CONSOLE_TAIL_LINES, follow: true },
            signal: stop.signal,
          });
          response.setEncoding('utf8');
          try {
            for await (const text of response as AsyncIterable<string>) if (!stop.signal.aborted) onData(text);
          } finally {
            response.destroy();
          }
        } catch (error) {
          ended = info(error);
        }
        if (stop.signal.aborted) return;
        forget();
        onEnd?.(ended);
      })();
      return forget;
    },

    listFiles: reported((id, path) => files(id).list(path)),
    makeDirectory: reported(async (id, path) => {
      await files(id).mkdir(path, { parents: true });
    }),
    removePath: reported((id, path) => files(id).remove(path, { recursive: true })),
    downloadFile: reported(async (id, path) => {
      // The file is checked before the dialog, so a wrong path fails without asking anything.
      const entry = await files(id).stat(path);
      if (entry.type === 'dir') throw new AppError('is_directory', `${path} is a directory; only files can be downloaded`);
      const target = await options.chooseSavePath(posix.basename(path));
      if (target === null) return;
      await saveAtomically(target, async (partial) => pipeline(await files(id).read(path, { format: 'stream' }), createWriteStream(partial)));
    }),
    uploadFiles(id, destDir, items, onProgress) {
      const job = startHostUpload(files(id), destDir, items, onProgress);
      const cancelAll = tracked(() => job.cancel());
      const settled = () => openStreams.delete(cancelAll);
      void job.result().then(settled, settled);
      return job;
    },

    snapshotTree: reported((id) => snapshots(id).tree()),
    takeSnapshot: reported(async (id, name) => (await snapshots(id).create(name === undefined ? {} : { name })).snapshot),
    restoreSnapshot: reported((id, snapshotId) => snapshots(id).restore(snapshotId)),
    forkSnapshot: reported(async (id, snapshotId, name) => {
      const [fork] = await snapshots(id).fork(snapshotId, name === undefined ? { count: 1 } : { names: [name] });
      if (!fork) throw new AppError('internal', `forking snapshot ${snapshotId}: the daemon created no sandbox`);
      return fork;
    }),
    deleteSnapshot: reported((id, snapshotId) => snapshots(id).delete(snapshotId)),

    display: reported(async (id): Promise<DisplayInfo> => {
      try {
        const session = await client.request<DisplaySession>('POST', sandboxRoute(id, '/display'));
        // The token goes unused (it expires within a minute): openDisplay asks for its own.
        return { available: true, size: { width: session.width, height: session.height } };
      } catch (error) {
        // No display, or not running: a state to show, not a failure. An unknown sandbox still fails.
        const failure = toAppError(error);
        if (failure.code === 'no_display' || failure.code === 'invalid_state') return { available: false, reason: failure.message };
        throw failure;
      }
    }),

    openDisplay(id, onEvent): DisplayConnection {
      // The window's page opens no connection of its own: main holds the WebSocket (over the
      // daemon's Unix socket) and the bytes cross to noVNC over the stream's MessagePort.
      let socket: WebSocket | null = null;
      let ended = false;
      const end = (event: DisplayEvent) => {
        if (ended) return;
        ended = true;
        openStreams.delete(close);
        onEvent(event);
      };
      const close = tracked(() => {
        socket?.close();
        end({ type: 'close', code: 1000, reason: 'closed' });
      });
      new SandboxComputer(client, () => id).openVnc().then(
        (opened) => {
          if (ended) {
            opened.close();
            return;
          }
          socket = opened;
          opened.on('message', (data: Buffer) => !ended && onEvent({ type: 'data', data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) }));
          opened.on('close', (code: number, reason: Buffer) => end({ type: 'close', code, reason: reason.toString() }));
          opened.on('error', () => undefined);
          onEvent({ type: 'open' });
        },
        (error: unknown) => end({ type: 'close', code: 1011, reason: AppError.encode(info(error)) }),
      );
      return {
        send: (data) => {
          if (!ended && socket?.readyState === socket?.OPEN) socket?.send(data);
        },
        close,
      };
    },

    listPorts: reported((id) => ports(id).list()),
    addPort: reported((id, { guestPort, ...options }) => ports(id).add(guestPort, options)),
    removePort: reported((id, hostPort) => ports(id).remove(hostPort)),

    closeStreams() {
      for (const close of [...openStreams]) close();
    },
  };
}

/** The call, with whatever it throws turned into an AppError. */
function reported<A extends unknown[], R>(call: (...args: A) => Promise<R>): (...args: A) => Promise<R> {
  return async (...args) => {
    try {
      return await call(...args);
    } catch (error) {
      throw toAppError(error);
    }
  };
}

function info(error: unknown): AppErrorInfo {
  const { code, message } = toAppError(error);
  return { code, message };
}

/** Writes next to the target and renames at the end: an existing file is never left half-overwritten. */
async function saveAtomically(target: string, write: (partial: string) => Promise<void>): Promise<void> {
  const partial = join(dirname(target), `.${basename(target)}.${randomUUID().slice(0, 8)}.part`);
  try {
    await write(partial);
    await rename(partial, target);
  } catch (error) {
    await rm(partial, { force: true });
    // A failure of this machine's file system says where; the daemon's failures say enough already.
    throw error instanceof Error && 'syscall' in error ? new AppError('internal', `saving to ${target}: ${error.message}`) : error;
  }
}

function delay(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}

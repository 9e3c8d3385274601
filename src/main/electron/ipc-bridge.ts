import type { IpcMain, IpcMainEvent, IpcMainInvokeEvent, MessagePortMain } from 'electron';
import { APP_CALLS, AppError, IPC, type AppErrorInfo, type TerminalOptions } from '../../shared/app-contract.js';
import type { HostUploadItem, IpcResult, MainAppApi, StreamControl, StreamMessage } from '../../shared/ipc-protocol.js';
import { checkCallArguments, checkStreamArguments, isAppStream } from './ipc-arguments.js';
import { isAppPage, type RendererLocation } from './renderer-location.js';

type IpcEvent = IpcMainEvent | IpcMainInvokeEvent;

export interface IpcBridgeOptions {
  ipcMain: Pick<IpcMain, 'handle' | 'removeHandler' | 'on' | 'removeListener'>;
  api: MainAppApi;
  /** Whether a message comes from our window's own renderer page; anything else is refused. */
  isTrustedSender(event: IpcEvent): boolean;
}

const REFUSED: AppErrorInfo = { code: 'forbidden', message: 'IPC from a page other than the app\'s own window was refused' };

/**
 * The sender check for the bridge: the message must come from our window's WebContents,
 * from a frame showing our renderer page (not a page it was somehow navigated to).
 */
export function appSenderCheck(appWindow: () => { webContents: { id: number }; isDestroyed(): boolean } | null, location: RendererLocation) {
  return (event: IpcEvent): boolean => {
    const window = appWindow();
    if (!window || window.isDestroyed() || event.sender.id !== window.webContents.id) return false;
    const frame = event.senderFrame;
    return frame !== null && isAppPage(location, frame.url);
  };
}

/**
 * Answers the preload's IPC with main's AppApi: an invoke handler per contract call,
 * returning IpcResult envelopes (a handler never throws, so error codes arrive intact), and
 * one listener for streams, each of which brings its own MessagePort. Returns a function
 * that removes everything it registered.
 */
export function registerIpcBridge({ ipcMain, api, isTrustedSender }: IpcBridgeOptions): () => void {
  for (const method of APP_CALLS) {
    ipcMain.handle(IPC.call(method), async (event, ...args: unknown[]): Promise<IpcResult> => {
      if (!isTrustedSender(event)) return { ok: false, error: REFUSED };
      try {
        checkCallArguments(method, args);
        const value = await (api[method] as (...values: unknown[]) => Promise<unknown>)(...args);
        return { ok: true, value };
      } catch (error) {
        return { ok: false, error: errorInfo(error) };
      }
    });
  }

  const onStream = (event: IpcMainEvent, request: unknown) => {
    const port = event.ports[0];
    // Without a port there is nobody to answer: a preload of ours always sends one.
    if (!port) return;
    const stream = new StreamPort(port);
    if (!isTrustedSender(event)) {
      stream.fail(REFUSED);
      return;
    }
    try {
      startStream(api, request, stream);
      stream.start();
    } catch (error) {
      stream.fail(errorInfo(error));
    }
  };
  ipcMain.on(IPC.stream, onStream);

  return () => {
    for (const method of APP_CALLS) ipcMain.removeHandler(IPC.call(method));
    ipcMain.removeListener(IPC.stream, onStream);
  };
}

function startStream(api: MainAppApi, request: unknown, stream: StreamPort): void {
  const { method, args } = (typeof request === 'object' && request !== null ? request : {}) as { method?: unknown; args?: unknown };
  if (!isAppStream(method)) throw new AppError('invalid_argument', `unknown stream method ${JSON.stringify(method) ?? 'undefined'}`);
  checkStreamArguments(method, args);

  switch (method) {
    case 'watchEvents': {
      const unsubscribe = api.watchEvents(
        (event) => stream.post({ kind: 'event', event }),
        (connected) => stream.post({ kind: 'connection', connected }),
      );
      stream.onEnd(unsubscribe);
      return;
    }
    case 'openTerminal': {
      const [id, options] = args as [string, TerminalOptions];
      const session = api.openTerminal(id, options, (event) => stream.post({ kind: 'terminal', event }));
      stream.onControl((control) => {
        if (control.kind === 'write') session.write(control.data);
        else if (control.kind === 'resize') session.resize(control.cols, control.rows);
      });
      stream.onEnd(() => session.close());
      return;
    }
    case 'followConsole': {
      const [id] = args as [string];
      const unsubscribe = api.followConsole(
        id,
        (text) => stream.post({ kind: 'console', text }),
        (error) => {
          stream.post({ kind: 'end', error });
          stream.close();
        },
      );
      stream.onEnd(unsubscribe);
      return;
    }
    case 'openDisplay': {
      const [id] = args as [string];
      const connection = api.openDisplay(id, (event) => {
        stream.post({ kind: 'display', event });
        if (event.type === 'close') stream.close();
      });
      stream.onControl((control) => {
        if (control.kind === 'send') connection.send(control.data);
      });
      stream.onEnd(() => connection.close());
      return;
    }
    case 'uploadFiles': {
      const [id, destDir, items] = args as [string, string, HostUploadItem[]];
      const job = api.uploadFiles(id, destDir, items, (progress) => stream.post({ kind: 'progress', progress }));
      job.result().then(
        (summary) => {
          stream.post({ kind: 'result', summary });
          stream.close();
        },
        (error: unknown) => stream.fail(errorInfo(error)),
      );
      stream.onControl((control) => {
        if (control.kind === 'cancel') job.cancel(control.index);
      });
      // A renderer that goes away (reload, closed window) takes its uploads with it.
      stream.onEnd(() => job.cancel());
      return;
    }
  }
}

/**
 * One stream's port: posts until it is closed, hands on well-formed control messages,
 * and calls the end handler once, whether the renderer said close, its port went away,
 * or main closed it.
 */
class StreamPort {
  private open = true;
  private controlHandler: ((control: StreamControl) => void) | undefined;
  private endHandler: (() => void) | undefined;

  constructor(private readonly port: Pick<MessagePortMain, 'on' | 'postMessage' | 'start' | 'close'>) {
    port.on('message', ({ data }) => {
      const control = asControl(data);
      if (!this.open || !control) return;
      if (control.kind === 'close') this.close();
      else this.controlHandler?.(control);
    });
    port.on('close', () => this.close());
  }

  /** Starts delivering control messages, once the stream's handlers are in place. */
  start(): void {
    this.port.start();
  }

  post(message: StreamMessage): void {
    if (this.open) this.port.postMessage(message);
  }

  onControl(handler: (control: StreamControl) => void): void {
    this.controlHandler = handler;
  }

  onEnd(handler: () => void): void {
    this.endHandler = handler;
  }

  fail(error: AppErrorInfo): void {
    this.post({ kind: 'failed', error });
    this.close();
  }

  close(): void {
    if (!this.open) return;
    this.open = false;
    this.port.close();
    this.endHandler?.();
  }
}

const isDimension = (value: unknown) => Number.isInteger(value) && (value as number) > 0 && (value as number) <= 10_000;

/** A control message of a known shape, or null: anything else from the port is dropped. */
function asControl(data: unknown): StreamControl | null {
  if (typeof data !== 'object' || data === null) return null;
  const control = data as Record<string, unknown>;
  switch (control.kind) {
    case 'write':
      return typeof control.data === 'string' ? { kind: 'write', data: control.data } : null;
    case 'resize':
      return isDimension(control.cols) && isDimension(control.rows) ? { kind: 'resize', cols: control.cols as number, rows: control.rows as number } : null;
    case 'cancel':
      if (control.index === undefined) return { kind: 'cancel' };
      return Number.isInteger(control.index) ? { kind: 'cancel', index: control.index as number } : null;
    case 'send':
      return control.data instanceof Uint8Array ? { kind: 'send', data: control.data } : null;
    case 'close':
      return { kind: 'close' };
    default:
      return null;
  }
}

export function errorInfo(error: unknown): AppErrorInfo {
  if (error instanceof AppError) return { code: error.code, message: error.message };
  return { code: 'internal', message: error instanceof Error ? error.message : String(error) };
}

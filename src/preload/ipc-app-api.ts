import type { IpcRenderer, WebUtils } from 'electron';
import {
  APP_CALLS,
  AppError,
  IPC,
  type AppApi,
  type AppCall,
  type AppErrorInfo,
  type DisplayConnection,
  type DisplayEvent,
  type TerminalSession,
  type UploadJob,
  type UploadSummary,
} from '../shared/app-contract.js';
import type { HostUploadItem, IpcResult, StreamControl, StreamMessage, StreamOpen } from '../shared/ipc-protocol.js';

interface OpenStream {
  send(control: StreamControl): void;
  /** Tells main the stream is over and lets go of the port. */
  close(): void;
}

/**
 * window.api over Electron IPC. Calls are invokes whose IpcResult is unwrapped; streams
 * get a MessageChannel each, port2 handed to main, port1 kept here to fire the renderer's
 * callbacks and carry its control messages. Errors are thrown as Error(AppError.encode())
 * because contextBridge passes on only an error's message.
 */
export function createIpcAppApi(ipc: Pick<IpcRenderer, 'invoke' | 'postMessage'>, webUtils: Pick<WebUtils, 'getPathForFile'>): AppApi {
  const call =
    (method: AppCall) =>
    async (...args: unknown[]): Promise<unknown> => {
      let result: IpcResult;
      try {
        result = (await ipc.invoke(IPC.call(method), ...args)) as IpcResult;
      } catch (error) {
        throw crossing(AppError.from(error));
      }
      if (result.ok) return result.value;
      throw crossing(result.error);
    };

  const openStream = (method: StreamOpen['method'], args: unknown[], onMessage: (message: StreamMessage) => void): OpenStream => {
    const { port1, port2 } = new MessageChannel();
    let open = true;
    port1.onmessage = (event: MessageEvent<StreamMessage>) => {
      if (open) onMessage(event.data);
    };
    const request: StreamOpen = { method, args };
    ipc.postMessage(IPC.stream, request, [port2]);
    return {
      send: (control) => {
        if (open) port1.postMessage(control);
      },
      close: () => {
        if (!open) return;
        port1.postMessage({ kind: 'close' } satisfies StreamControl);
        open = false;
        port1.close();
      },
    };
  };

  const calls = Object.fromEntries(APP_CALLS.map((method) => [method, call(method)])) as unknown as Pick<AppApi, AppCall>;

  return {
    ...calls,

    watchEvents(onEvent, onConnection) {
      const stream = openStream('watchEvents', [], (message) => {
        if (message.kind === 'event') onEvent(message.event);
        else if (message.kind === 'connection') onConnection?.(message.connected);
        else if (message.kind === 'failed') onConnection?.(false);
      });
      return () => stream.close();
    },

    openTerminal(id, options, onEvent): TerminalSession {
      const { cols, rows, argv } = options;
      const stream = openStream('openTerminal', [id, { cols, rows, ...(argv ? { argv } : {}) }], (message) => {
        if (message.kind === 'terminal') onEvent(message.event);
        else if (message.kind === 'failed') onEvent({ type: 'error', ...message.error });
      });
      return {
        write: (data) => stream.send({ kind: 'write', data }),
        resize: (newCols, newRows) => stream.send({ kind: 'resize', cols: newCols, rows: newRows }),
        close: () => stream.close(),
      };
    },

    followConsole(id, onData, onEnd) {
      const stream = openStream('followConsole', [id], (message) => {
        if (message.kind === 'console') onData(message.text);
        else if (message.kind === 'end' || message.kind === 'failed') {
          stream.close();
          onEnd?.(message.error);
        }
      });
      return () => stream.close();
    },

    openDisplay(id, onEvent): DisplayConnection {
      let ended = false;
      const end = (event: DisplayEvent) => {
        if (ended) return;
        ended = true;
        stream.close();
        onEvent(event);
      };
      const stream = openStream('openDisplay', [id], (message) => {
        if (message.kind === 'display') {
          if (message.event.type === 'close') end(message.event);
          else if (!ended) onEvent(message.event);
        } else if (message.kind === 'failed') end({ type: 'close', code: 1011, reason: AppError.encode(message.error) });
      });
      return {
        send: (data) => stream.send({ kind: 'send', data }),
        close: () => end({ type: 'close', code: 1000, reason: 'closed' }),
      };
    },

    uploadFiles(id, destDir, items, onProgress): UploadJob {
      const hostItems: HostUploadItem[] = items.map((item) => ({
        relativePath: item.relativePath,
        path: webUtils.getPathForFile(item.file),
        size: item.file.size,
      }));
      let settle!: { resolve: (summary: UploadSummary) => void; reject: (error: Error) => void };
      const result = new Promise<UploadSummary>((resolve, reject) => (settle = { resolve, reject }));
      // result() hands the rejection to whoever asks; nobody asking must not be an unhandled rejection.
      result.catch(() => undefined);
      const stream = openStream('uploadFiles', [id, destDir, hostItems], (message) => {
        if (message.kind === 'progress') onProgress(message.progress);
        else if (message.kind === 'result') {
          stream.close();
          settle.resolve(message.summary);
        } else if (message.kind === 'failed') {
          stream.close();
          settle.reject(crossing(message.error));
        }
      });
      return {
        cancel: (index) => stream.send(index === undefined ? { kind: 'cancel' } : { kind: 'cancel', index }),
        result: () => result,
      };
    },
  };
}

function crossing(error: AppErrorInfo): Error {
  return new Error(AppError.encode(error));
}

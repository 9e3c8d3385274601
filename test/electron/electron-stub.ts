import { EventEmitter } from 'node:events';
import type { MessagePort as NodeMessagePort } from 'node:worker_threads';

/**
 * The parts of electron the IPC wiring uses, routed in-process: ipcRenderer.invoke reaches
 * ipcMain.handle's handler and ipcRenderer.postMessage reaches ipcMain.on's listener, both
 * with a structured clone of the data as Electron makes. Ports are Node's MessageChannel
 * (the preload's `new MessageChannel()` here), shown to main as MessagePortMain-like
 * emitters. contextBridge keeps only an error's message, as the real one does.
 */
type Handler = (event: unknown, ...args: unknown[]) => unknown;
type Listener = (event: unknown, message: unknown) => void;

const handlers = new Map<string, Handler>();
const listeners = new Map<string, Set<Listener>>();
const exposed = new Map<string, unknown>();
const filePaths = new Map<File, string>();

/** Who the next IPC message comes from; tests switch it to play a foreign sender. */
export const sender = { id: 1, url: 'file:///opt/app/out/renderer/index.html' };
const OUR_SENDER = { ...sender };

export function resetSender(): void {
  Object.assign(sender, OUR_SENDER);
}

function ipcEvent(ports: unknown[] = []) {
  return { sender: { id: sender.id }, senderFrame: { url: sender.url }, ports };
}

function asMainPort(port: NodeMessagePort) {
  const emitter = new EventEmitter();
  port.on('message', (data: unknown) => emitter.emit('message', { data, ports: [] }));
  port.on('close', () => emitter.emit('close'));
  return Object.assign(emitter, {
    postMessage: (message: unknown) => port.postMessage(message),
    start: () => port.start(),
    close: () => port.close(),
  });
}

export const ipcMain = {
  handle(channel: string, handler: Handler) {
    if (handlers.has(channel)) throw new Error(`Attempted to register a second handler for '${channel}'`);
    handlers.set(channel, handler);
  },
  removeHandler(channel: string) {
    handlers.delete(channel);
  },
  on(channel: string, listener: Listener) {
    if (!listeners.has(channel)) listeners.set(channel, new Set());
    listeners.get(channel)!.add(listener);
    return ipcMain;
  },
  removeListener(channel: string, listener: Listener) {
    listeners.get(channel)?.delete(listener);
    return ipcMain;
  },
};

export const ipcRenderer = {
  async invoke(channel: string, ...args: unknown[]): Promise<unknown> {
    const handler = handlers.get(channel);
    if (!handler) throw new Error(`Error invoking remote method '${channel}': Error: No handler registered for '${channel}'`);
    return structuredClone(await handler(ipcEvent(), ...structuredClone(args)));
  },
  postMessage(channel: string, message: unknown, transfer: NodeMessagePort[] = []) {
    const ports = transfer.map(asMainPort);
    for (const listener of listeners.get(channel) ?? []) listener(ipcEvent(ports), structuredClone(message));
  },
};

/** What crosses contextBridge: functions stay callable, a rejection keeps only its message. */
function bridged(value: unknown): unknown {
  if (typeof value === 'function') return (...args: unknown[]) => bridged((value as (...a: unknown[]) => unknown)(...args));
  if (value instanceof Promise) {
    return value.then(bridged, (error: unknown) => {
      throw new Error(error instanceof Error ? error.message : String(error));
    });
  }
  if (typeof value === 'object' && value !== null && Object.getPrototypeOf(value) === Object.prototype) {
    return Object.fromEntries(Object.entries(value).map(([key, member]) => [key, bridged(member)]));
  }
  return value;
}

export const contextBridge = {
  exposeInMainWorld(key: string, api: unknown) {
    exposed.set(key, bridged(api));
  },
};

export const webUtils = {
  getPathForFile: (file: File) => filePaths.get(file) ?? '',
};

/** A File the renderer got from a drop, backed by a file on disk at hostPath. */
export function droppedFile(contents: string, name: string, hostPath: string): File {
  const file = new File([contents], name);
  filePaths.set(file, hostPath);
  return file;
}

export function exposedInMainWorld(key: string): unknown {
  return exposed.get(key);
}

export function registeredChannels(): { handled: string[]; listened: string[] } {
  return { handled: [...handlers.keys()], listened: [...listeners.entries()].filter(([, set]) => set.size > 0).map(([channel]) => channel) };
}

export const electron = { ipcMain, ipcRenderer, contextBridge, webUtils };

import type { SandboxEvent } from './api/event-schemas.js';
import type { FileInfo } from './api/file-schemas.js';
import type { AddPortBody, PortForward } from './api/port-schemas.js';
import type { CreateSandboxBody, Sandbox } from './api/sandbox-schemas.js';
import type { Snapshot, SnapshotTree } from './api/snapshot-schemas.js';
import type { SystemInfo } from './api/system-schemas.js';
import type { Template } from './api/template-schemas.js';
import type { UsageList } from './api/usage-schemas.js';

/**
 * The one contract between the renderer and whatever hosts it. The Electron preload
 * implements it over IPC (main answers through the SDK, against the daemon); browser mode
 * implements it over HTTP/WebSocket against the daemon that served the page. The renderer
 * sees nothing else.
 *
 * Everything here must survive Electron's contextBridge: plain data, functions (also as
 * members of returned objects), and promises only as a function's return value.
 */
export interface AppInfo {
  name: string;
  version: string;
  /** `electron` inside the desktop app, `browser` when served by the daemon. */
  shell: 'electron' | 'browser';
  /** Where the daemon answers: `unix:/path` or a URL. */
  daemon: string;
}

export type LifecycleAction = 'start' | 'stop' | 'pause' | 'resume' | 'restart';

export type Unsubscribe = () => void;

/** Bytes from the guest's terminal, or how the terminal ended. */
export type TerminalEvent =
  | { type: 'output'; data: Uint8Array }
  | { type: 'exit'; exitCode: number | null; signal: string | null }
  | { type: 'error'; code: string; message: string };

export interface TerminalOptions {
  cols: number;
  rows: number;
  /** The program to run; a login shell when omitted. */
  argv?: string[];
}

export interface TerminalSession {
  write(data: string): void;
  resize(cols: number, rows: number): void;
  /** Ends the guest process and the connection. */
  close(): void;
}

/** A file from a drop or a file picker; relativePath keeps dropped folders' structure ("dir/a.txt"). */
export interface UploadItem {
  relativePath: string;
  file: File;
}

export type UploadState = 'queued' | 'uploading' | 'done' | 'failed' | 'cancelled';

export interface UploadProgress {
  index: number;
  relativePath: string;
  loaded: number;
  total: number;
  state: UploadState;
  /** Set when state is failed: the problem's message. */
  error?: string;
}

export interface UploadSummary {
  done: number;
  failed: number;
  cancelled: number;
}

export interface UploadJob {
  /** Cancels one file, or every file not yet done. */
  cancel(index?: number): void;
  /** Settles when every file is done, failed or cancelled. */
  result(): Promise<UploadSummary>;
}

/** Whether a sandbox's screen can be shown (and its size), or why not. */
export type DisplayInfo = { available: true; size: { width: number; height: number } } | { available: false; reason: string };

/** What a display connection reports: it opened, bytes of the guest's VNC (RFB) stream, or it ended. */
export type DisplayEvent = { type: 'open' } | { type: 'data'; data: Uint8Array } | { type: 'close'; code: number; reason: string };

export interface DisplayConnection {
  /** Bytes to the guest's VNC server (ignored before 'open' and after 'close'). */
  send(data: Uint8Array): void;
  close(): void;
}

export interface AppApi {
  appInfo(): Promise<AppInfo>;
  system(): Promise<SystemInfo>;
  templates(): Promise<Template[]>;

  listSandboxes(): Promise<Sandbox[]>;
  /** Resolves once the sandbox is running; its progress arrives as events meanwhile. */
  createSandbox(request: CreateSandboxBody): Promise<Sandbox>;
  sandboxAction(id: string, action: LifecycleAction): Promise<Sandbox>;
  deleteSandbox(id: string): Promise<void>;
  usage(): Promise<UsageList>;
  /** State, progress and snapshot events until unsubscribed; onConnection reports drops and reconnects. */
  watchEvents(onEvent: (event: SandboxEvent) => void, onConnection?: (connected: boolean) => void): Unsubscribe;

  openTerminal(id: string, options: TerminalOptions, onEvent: (event: TerminalEvent) => void): TerminalSession;
  /** The serial console: the last lines, then new output as it comes. */
  followConsole(id: string, onData: (text: string) => void, onEnd?: (error: AppErrorInfo | null) => void): Unsubscribe;

  listFiles(id: string, path: string): Promise<FileInfo[]>;
  makeDirectory(id: string, path: string): Promise<void>;
  removePath(id: string, path: string): Promise<void>;
  /** Saves a guest file on the user's machine (a download in the browser, a save dialog in Electron). */
  downloadFile(id: string, path: string): Promise<void>;
  /** Uploads into destDir, creating folders from relativePath; one progress event per change. */
  uploadFiles(id: string, destDir: string, items: UploadItem[], onProgress: (progress: UploadProgress) => void): UploadJob;

  snapshotTree(id: string): Promise<SnapshotTree>;
  takeSnapshot(id: string, name?: string): Promise<Snapshot>;
  restoreSnapshot(id: string, snapshotId: string): Promise<Sandbox>;
  forkSnapshot(id: string, snapshotId: string, name?: string): Promise<Sandbox>;
  deleteSnapshot(id: string, snapshotId: string): Promise<void>;

  display(id: string): Promise<DisplayInfo>;
  /**
   * A connection to the sandbox's VNC server (through the daemon, with a fresh single-use
   * token each time): the Display tab hands it to noVNC. Ends with one 'close' event.
   */
  openDisplay(id: string, onEvent: (event: DisplayEvent) => void): DisplayConnection;

  /** Host → guest port forwards of the sandbox, by host port. */
  listPorts(id: string): Promise<PortForward[]>;
  addPort(id: string, request: AddPortBody): Promise<PortForward>;
  removePort(id: string, hostPort: number): Promise<void>;
}

/** What the renderer shows of a failure: the problem's stable code and its message. */
export interface AppErrorInfo {
  code: string;
  message: string;
}

/** Transports reject with this; AppError.from also reads errors that crossed IPC. */
export class AppError extends Error implements AppErrorInfo {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'AppError';
  }

  /**
   * contextBridge copies only an error's message, so the preload encodes the code as a
   * `[code] ` prefix; this reads either form (and any other thrown value).
   */
  static from(error: unknown): AppError {
    if (error instanceof AppError) return error;
    const raw = error instanceof Error ? error.message : String(error);
    const match = /\[([a-z_]+)\] (.*)$/s.exec(raw);
    return match ? new AppError(match[1]!, match[2]!) : new AppError('internal', raw);
  }

  /** The message form that crosses contextBridge intact. */
  static encode(info: AppErrorInfo): string {
    return `[${info.code}] ${info.message}`;
  }
}

/** Contract methods answered by one request (ipcRenderer.invoke in Electron). */
export const APP_CALLS = [
  'appInfo',
  'system',
  'templates',
  'listSandboxes',
  'createSandbox',
  'sandboxAction',
  'deleteSandbox',
  'usage',
  'listFiles',
  'makeDirectory',
  'removePath',
  'downloadFile',
  'snapshotTree',
  'takeSnapshot',
  'restoreSnapshot',
  'forkSnapshot',
  'deleteSnapshot',
  'display',
  'listPorts',
  'addPort',
  'removePort',
] as const satisfies readonly (keyof AppApi)[];
export type AppCall = (typeof APP_CALLS)[number];

/** Contract methods that stream (a MessagePort per stream in Electron). */
export const APP_STREAMS = ['watchEvents', 'openTerminal', 'followConsole', 'uploadFiles', 'openDisplay'] as const satisfies readonly (keyof AppApi)[];
export type AppStream = (typeof APP_STREAMS)[number];

// Every contract method is either a call or a stream: a new method cannot be forgotten by the IPC bridge.
type Unclassified = Exclude<keyof AppApi, AppCall | AppStream>;
export const CONTRACT_IS_CLASSIFIED: Unclassified extends never ? true : Unclassified = true;

/** IPC channel names, shared so main and preload cannot drift apart. */
export const IPC = {
  call: (method: AppCall) => `api:call:${method}`,
  stream: 'api:stream',
} as const;

declare global {
  interface Window {
    api: AppApi;
  }
}

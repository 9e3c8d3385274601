import type { SandboxEvent } from './api/event-schemas.js';
import type { AppApi, AppErrorInfo, AppStream, DisplayEvent, TerminalEvent, UploadJob, UploadProgress, UploadSummary } from './app-contract.js';

/**
 * The Electron IPC protocol between the preload and main, defined once so neither side
 * can drift. Calls travel as ipcRenderer.invoke(IPC.call(method), ...args) and answer with
 * an IpcResult; streams open with one IPC.stream message carrying a MessagePort, and then
 * talk only over that port.
 */

/** main never rejects an invoke: a failure is an answer, so its code survives the trip. */
export type IpcResult<T = unknown> = { ok: true; value: T } | { ok: false; error: AppErrorInfo };

/** The renderer's File objects stay in the preload; main receives where each file is on this machine. */
export interface HostUploadItem {
  relativePath: string;
  /** Absolute host path (webUtils.getPathForFile); empty when the File is not on disk. */
  path: string;
  size: number;
}

/** What main implements behind the bridge: the contract, with uploads given as host paths. */
export type MainAppApi = Omit<AppApi, 'uploadFiles'> & {
  uploadFiles(id: string, destDir: string, items: HostUploadItem[], onProgress: (progress: UploadProgress) => void): UploadJob;
};

/** The IPC.stream message; the callbacks stay behind in the preload and the port stands in for them. */
export interface StreamOpen {
  method: AppStream;
  args: unknown[];
}

/** main → preload, over the stream's port. */
export type StreamMessage =
  | { kind: 'event'; event: SandboxEvent }
  | { kind: 'connection'; connected: boolean }
  | { kind: 'terminal'; event: TerminalEvent }
  | { kind: 'console'; text: string }
  | { kind: 'end'; error: AppErrorInfo | null }
  | { kind: 'progress'; progress: UploadProgress }
  | { kind: 'result'; summary: UploadSummary }
  | { kind: 'display'; event: DisplayEvent }
  /** The stream was refused or could not start; main closes the port after it. */
  | { kind: 'failed'; error: AppErrorInfo };

/** preload → main, over the stream's port. */
export type StreamControl =
  | { kind: 'write'; data: string }
  | { kind: 'resize'; cols: number; rows: number }
  | { kind: 'cancel'; index?: number }
  /** Display streams: bytes to the guest's VNC server. */
  | { kind: 'send'; data: Uint8Array }
  | { kind: 'close' };

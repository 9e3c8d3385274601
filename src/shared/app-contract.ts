/**
 * The one contract between the renderer and whatever hosts it. The Electron preload
 * implements it over IPC; browser mode will implement it over HTTP/WebSocket. The
 * renderer sees nothing else.
 */
export interface AppInfo {
  name: string;
  version: string;
  /** `electron` inside the desktop app, `browser` when served by the daemon. */
  shell: 'electron' | 'browser';
}

export interface AppApi {
  appInfo(): Promise<AppInfo>;
}

/** IPC channel names, shared so main and preload cannot drift apart. */
export const IPC_CHANNELS = {
  appInfo: 'app:info',
} as const satisfies Record<keyof AppApi, string>;

declare global {
  interface Window {
    api: AppApi;
  }
}

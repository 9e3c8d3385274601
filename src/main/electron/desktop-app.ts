import { join } from 'node:path';
import { app, dialog, ipcMain, session, type Tray } from 'electron';
import { productVersion } from '../core/paths/product-version.js';
import { createAppTray } from './app-tray.js';
import { createAppWindow } from './app-window.js';
import { secureSession } from './content-security.js';
import { connectOrHostDaemon, type DaemonConnection } from './daemon-connection.js';
import { appSenderCheck, registerIpcBridge } from './ipc-bridge.js';
import { askInMessageBox, installQuitFlow } from './quit-flow.js';
import { rendererLocation } from './renderer-location.js';
import { createSdkAppApi } from './sdk-app-api.js';

const PRODUCT_NAME = 'MicroVM Sandbox';
/** A hosted daemon that has not closed by then is left behind rather than holding the quit forever. */
const DAEMON_CLOSE_TIMEOUT_MS = 15_000;

/** The built app's layout: out/main/index.js next to out/preload and out/renderer; icons in resources/. */
const built = {
  preload: join(import.meta.dirname, '../preload/index.cjs'),
  renderer: join(import.meta.dirname, '../renderer'),
  icon: join(import.meta.dirname, '../../resources/icons/512x512.png'),
};

/**
 * The Electron shell: one instance per user, a daemon to talk to (connected or hosted),
 * one locked-down window, the IPC bridge to it, a tray icon and the quit flow.
 */
export async function runDesktopApp(): Promise<void> {
  // A second instance hands over to the first, which owns the window and maybe the daemon.
  if (!app.requestSingleInstanceLock()) {
    app.quit();
    return;
  }
  const location = rendererLocation(built.renderer);
  await app.whenReady();

  let connection: DaemonConnection;
  try {
    connection = await connectOrHostDaemon();
  } catch (error) {
    dialog.showErrorBox(`${PRODUCT_NAME} cannot start`, `No daemon could be reached or started: ${(error as Error).message}`);
    app.exit(1);
    return;
  }

  secureSession(session.defaultSession, location);
  const window = createAppWindow({
    location,
    preload: built.preload,
    stateFile: join(app.getPath('userData'), 'window-state.json'),
    icon: built.icon,
    title: PRODUCT_NAME,
  });
  const showWindow = () => {
    if (window.isDestroyed()) return;
    if (window.isMinimized()) window.restore();
    window.show();
    window.focus();
  };
  app.on('second-instance', showWindow);

  const api = createSdkAppApi({
    client: connection.client,
    name: PRODUCT_NAME,
    version: productVersion(),
    chooseSavePath: async (suggestedName) => {
      const { canceled, filePath } = await dialog.showSaveDialog(window, { defaultPath: join(app.getPath('downloads'), suggestedName) });
      return canceled || !filePath ? null : filePath;
    },
  });
  registerIpcBridge({ ipcMain, api, isTrustedSender: appSenderCheck(() => (window.isDestroyed() ? null : window), location) });

  // Referenced from shutdown, which keeps it alive: a tray icon nobody references is garbage-collected away.
  let tray: Tray | null = null;
  const shutdown = async () => {
    tray?.destroy();
    api.closeStreams();
    await Promise.race([connection.close(), new Promise((resolve) => setTimeout(resolve, DAEMON_CLOSE_TIMEOUT_MS).unref())]);
  };
  installQuitFlow(app, window, {
    listSandboxes: () => api.listSandboxes(),
    stopSandbox: (id) => api.sandboxAction(id, 'stop'),
    ask: askInMessageBox((options) => dialog.showMessageBox(window, options), connection.hosted !== null),
    shutdown,
  });
  // Signals skip the question: the sandboxes keep running and the daemon still closes cleanly.
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => void shutdown().finally(() => app.exit(0)));

  tray = createAppTray({ icon: built.icon, tooltip: PRODUCT_NAME, show: showWindow, quit: () => app.quit() });
}

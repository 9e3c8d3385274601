import { join } from 'node:path';
import { app, BrowserWindow, ipcMain } from 'electron';
import { IPC_CHANNELS, type AppInfo } from '../shared/app-contract.js';

// The Electron shell stays thin: it owns windows and IPC, and the core does the work.

if (!app.requestSingleInstanceLock()) {
  app.quit();
}

function createWindow(): BrowserWindow {
  const win = new BrowserWindow({
    width: 1200,
    height: 800,
    show: false,
    webPreferences: {
      preload: join(import.meta.dirname, '../preload/index.mjs'),
      contextIsolation: true,
      nodeIntegration: false,
      sandbox: true,
    },
  });
  win.once('ready-to-show', () => win.show());
  // No remote content: every navigation away from the bundled renderer is refused.
  win.webContents.on('will-navigate', (event) => event.preventDefault());
  win.webContents.setWindowOpenHandler(() => ({ action: 'deny' }));
  const devUrl = process.env.ELECTRON_RENDERER_URL;
  if (devUrl) void win.loadURL(devUrl);
  else void win.loadFile(join(import.meta.dirname, '../renderer/index.html'));
  return win;
}

ipcMain.handle(IPC_CHANNELS.appInfo, (event): AppInfo => {
  if (!event.senderFrame || BrowserWindow.fromWebContents(event.sender) === null) {
    throw new Error('IPC from an unknown sender was refused');
  }
  return { name: app.getName(), version: app.getVersion(), shell: 'electron' };
});

app.on('second-instance', () => {
  const [win] = BrowserWindow.getAllWindows();
  if (win) {
    if (win.isMinimized()) win.restore();
    win.focus();
  }
});

app.on('window-all-closed', () => app.quit());

void app.whenReady().then(createWindow);

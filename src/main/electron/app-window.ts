import { BrowserWindow, screen } from 'electron';
import { secureWebContents } from './content-security.js';
import { rendererUrl, type RendererLocation } from './renderer-location.js';
import { MIN_WINDOW_SIZE, readWindowState, writeWindowState } from './window-state.js';

export interface AppWindowOptions {
  location: RendererLocation;
  /** The built preload script; sandboxed preloads must be CommonJS. */
  preload: string;
  /** Where the window's size and place are remembered (in userData). */
  stateFile: string;
  icon?: string;
  title: string;
}

/**
 * The one window: the renderer runs sandboxed and context-isolated, without Node, seeing
 * only window.api from the preload; it cannot open windows or navigate away. Its size,
 * place and maximized state are saved on close and restored on the next start.
 */
export function createAppWindow(options: AppWindowOptions): BrowserWindow {
  const state = readWindowState(
    options.stateFile,
    screen.getAllDisplays().map((display) => display.workArea),
  );
  const window = new BrowserWindow({
    ...(state.x !== undefined && state.y !== undefined ? { x: state.x, y: state.y } : {}),
    width: state.width,
    height: state.height,
    minWidth: MIN_WINDOW_SIZE.width,
    minHeight: MIN_WINDOW_SIZE.height,
    title: options.title,
    ...(options.icon ? { icon: options.icon } : {}),
    show: false,
    webPreferences: {
      preload: options.preload,
      contextIsolation: true,
      nodeIntegration: false,
      nodeIntegrationInWorker: false,
      sandbox: true,
      webSecurity: true,
      allowRunningInsecureContent: false,
      webviewTag: false,
      spellcheck: false,
    },
  });
  secureWebContents(window.webContents, options.location);
  window.once('ready-to-show', () => {
    if (state.maximized) window.maximize();
    window.show();
  });
  window.on('close', () => {
    try {
      writeWindowState(options.stateFile, { ...window.getNormalBounds(), maximized: window.isMaximized() });
    } catch (error) {
      // Losing the window's place is not worth failing to close over.
      console.warn(`could not save the window state to ${options.stateFile}: ${(error as Error).message}`);
    }
  });
  void window.loadURL(rendererUrl(options.location));
  return window;
}

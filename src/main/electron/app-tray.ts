import { Menu, Tray } from 'electron';

export interface AppTrayOptions {
  icon: string;
  tooltip: string;
  show(): void;
  quit(): void;
}

/**
 * A tray icon with Show and Quit, where the desktop has a tray. Some Linux desktops have
 * none, and creating one can fail there: the app then simply runs without it.
 */
export function createAppTray(options: AppTrayOptions): Tray | null {
  try {
    const tray = new Tray(options.icon);
    tray.setToolTip(options.tooltip);
    tray.setContextMenu(
      Menu.buildFromTemplate([
        { label: 'Show', click: options.show },
        { type: 'separator' },
        { label: 'Quit', click: options.quit },
      ]),
    );
    tray.on('click', options.show);
    return tray;
  } catch (error) {
    console.warn(`no tray icon: ${(error as Error).message}`);
    return null;
  }
}

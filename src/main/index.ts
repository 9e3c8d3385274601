import { runDesktopApp } from './electron/desktop-app.js';

// The Electron shell stays thin: it owns the window and IPC, and the daemon does the work.
runDesktopApp().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});

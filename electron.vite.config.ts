import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'electron-vite';
import react from '@vitejs/plugin-react';
import type { Plugin } from 'vite';

const root = fileURLToPath(new URL('.', import.meta.url));

// The page's CSP meta tag is what guards a file:// page in the packaged app. Only the dev
// server, whose React refresh preamble is an inline script, gets it relaxed.
const devServerCsp: Plugin = {
  name: 'dev-server-csp',
  apply: 'serve',
  transformIndexHtml: (html) => html.replace("script-src 'self'", "script-src 'self' 'unsafe-inline'"),
};

// The Electron shell is thin: main hosts (or connects to) the daemon, preload exposes the
// typed contract, the renderer is the same React app that browser mode serves.
export default defineConfig({
  main: {
    // The daemon is bundled in; its npm dependencies stay external (electron-vite's default),
    // so better-sqlite3's native addon loads from node_modules, rebuilt for Electron when packaged.
    build: { rollupOptions: { input: resolve(root, 'src/main/index.ts') } },
  },
  preload: {
    build: {
      rollupOptions: {
        input: resolve(root, 'src/preload/index.ts'),
        // A sandboxed preload is run as a CommonJS script, never as an ES module.
        output: { format: 'cjs', entryFileNames: '[name].cjs' },
      },
    },
  },
  renderer: {
    root: resolve(root, 'src/renderer'),
    build: { rollupOptions: { input: resolve(root, 'src/renderer/index.html') } },
    plugins: [react(), devServerCsp],
  },
});

import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'electron-vite';
import react from '@vitejs/plugin-react';

const root = fileURLToPath(new URL('.', import.meta.url));

// The Electron shell is thin: main hosts the core, preload exposes the typed contract,
// the renderer is the same React app that browser mode serves.
export default defineConfig({
  main: {
    build: { rollupOptions: { input: resolve(root, 'src/main/index.ts') } },
  },
  preload: {
    build: { rollupOptions: { input: resolve(root, 'src/preload/index.ts') } },
  },
  renderer: {
    root: resolve(root, 'src/renderer'),
    build: { rollupOptions: { input: resolve(root, 'src/renderer/index.html') } },
    plugins: [react()],
  },
});

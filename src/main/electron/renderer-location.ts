import { resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

/**
 * Where the app's own renderer comes from: the built index.html, or in development the
 * electron-vite dev server (ELECTRON_RENDERER_URL). Loading, the IPC sender check and the
 * navigation and request guards all ask this one place what "our page" is.
 */
export type RendererLocation = { kind: 'file'; indexHtml: string } | { kind: 'dev-server'; origin: string; url: string };

export function rendererLocation(outDir: string, env: NodeJS.ProcessEnv = process.env): RendererLocation {
  const devUrl = env.ELECTRON_RENDERER_URL;
  if (devUrl) {
    const url = new URL(devUrl);
    if (url.protocol !== 'http:' || !['localhost', '127.0.0.1', '[::1]'].includes(url.hostname)) {
      throw new Error(`ELECTRON_RENDERER_URL must be a loopback http:// URL (the electron-vite dev server), not ${devUrl}`);
    }
    return { kind: 'dev-server', origin: url.origin, url: url.href };
  }
  return { kind: 'file', indexHtml: resolve(outDir, 'index.html') };
}

/** The URL a window loads for this location. */
export function rendererUrl(location: RendererLocation): string {
  return location.kind === 'file' ? pathToFileURL(location.indexHtml).href : location.url;
}

/** Whether a frame's URL is our renderer page (any hash or query, nothing else). */
export function isAppPage(location: RendererLocation, url: string): boolean {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return false;
  }
  if (location.kind === 'dev-server') return parsed.origin === location.origin;
  if (parsed.protocol !== 'file:' || parsed.host !== '') return false;
  parsed.hash = '';
  parsed.search = '';
  return fileURLToPath(parsed) === location.indexHtml;
}

/** Whether the renderer may load a resource: its own files (the renderer's directory), or the dev server. */
export function isAppResource(location: RendererLocation, url: string): boolean {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return false;
  }
  if (['data:', 'blob:', 'devtools:'].includes(parsed.protocol)) return true;
  if (location.kind === 'dev-server') {
    // Vite's hot reload talks WebSocket to the same host and port.
    const http = parsed.protocol === 'ws:' ? new URL(`http://${parsed.host}`).origin : parsed.origin;
    return http === location.origin;
  }
  if (parsed.protocol !== 'file:' || parsed.host !== '') return false;
  const dir = resolve(location.indexHtml, '..');
  parsed.hash = '';
  parsed.search = '';
  const path = fileURLToPath(parsed);
  return path === dir || path.startsWith(`${dir}/`);
}

import type { Session, WebContents } from 'electron';
import { isAppPage, isAppResource, type RendererLocation } from './renderer-location.js';

/** The app's pages run only their own scripts and talk only to their own origin (main is reached over IPC). */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data: blob:",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

/** The dev server's React refresh preamble is an inline script; only development allows it. */
const DEV_CONTENT_SECURITY_POLICY = CONTENT_SECURITY_POLICY.replace("script-src 'self'", "script-src 'self' 'unsafe-inline'");

export function contentSecurityPolicy(location: RendererLocation): string {
  return location.kind === 'dev-server' ? DEV_CONTENT_SECURITY_POLICY : CONTENT_SECURITY_POLICY;
}

/**
 * Locks the session the window uses: the CSP header on every response, no request for
 * anything but the app's own files (no remote content), and every permission (camera,
 * notifications, clipboard reads, ...) denied.
 */
export function secureSession(session: Pick<Session, 'webRequest' | 'setPermissionRequestHandler' | 'setPermissionCheckHandler'>, location: RendererLocation): void {
  const policy = contentSecurityPolicy(location);
  session.webRequest.onBeforeRequest((details, respond) => respond({ cancel: !isAppResource(location, details.url) }));
  session.webRequest.onHeadersReceived((details, respond) => {
    const headers = Object.fromEntries(Object.entries(details.responseHeaders ?? {}).filter(([name]) => name.toLowerCase() !== 'content-security-policy'));
    respond({ responseHeaders: { ...headers, 'Content-Security-Policy': [policy] } });
  });
  session.setPermissionRequestHandler((_contents, _permission, respond) => respond(false));
  session.setPermissionCheckHandler(() => false);
}

/** No new windows, no navigation away from the app's page, no embedded webviews. */
export function secureWebContents(contents: Pick<WebContents, 'on' | 'setWindowOpenHandler'>, location: RendererLocation): void {
  contents.setWindowOpenHandler(() => ({ action: 'deny' }));
  const stayHome = (event: { preventDefault(): void }, url: string) => {
    if (!isAppPage(location, url)) event.preventDefault();
  };
  contents.on('will-navigate', stayHome);
  contents.on('will-redirect', stayHome);
  contents.on('will-attach-webview', (event) => event.preventDefault());
}

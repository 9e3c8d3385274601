import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import { CONTENT_SECURITY_POLICY, secureSession, secureWebContents } from '../../src/main/electron/content-security.js';
import { isAppPage, isAppResource, rendererLocation, rendererUrl } from '../../src/main/electron/renderer-location.js';

const built = rendererLocation('/opt/app/out/renderer', {});
const dev = rendererLocation('/opt/app/out/renderer', { ELECTRON_RENDERER_URL: 'http://localhost:5173/' });

describe('the renderer location', () => {
  it('is the built index.html, or the dev server when electron-vite says so', () => {
    expect(rendererUrl(built)).toBe('file:///opt/app/out/renderer/index.html');
    expect(rendererUrl(dev)).toBe('http://localhost:5173/');
    expect(() => rendererLocation('/x', { ELECTRON_RENDERER_URL: 'https://example.com/' })).toThrow(/must be a loopback http:\/\/ URL/);
  });

  it('recognises only our page as the app page', () => {
    expect(isAppPage(built, 'file:///opt/app/out/renderer/index.html')).toBe(true);
    expect(isAppPage(built, 'file:///opt/app/out/renderer/index.html?x=1#/files')).toBe(true);
    for (const url of ['file:///opt/app/out/renderer/evil.html', 'file:///etc/passwd', 'file://host/opt/app/out/renderer/index.html', 'https://example.com/', 'not a url', 'http://localhost:5173/']) {
      expect(isAppPage(built, url), url).toBe(false);
    }
    expect(isAppPage(dev, 'http://localhost:5173/src/main.tsx')).toBe(true);
    expect(isAppPage(dev, 'http://localhost:5174/')).toBe(false);
  });

  it('lets the page load only its own files', () => {
    for (const url of ['file:///opt/app/out/renderer/assets/index-abc.js', 'data:image/png;base64,AAAA', 'blob:file:///1234', 'devtools://devtools/bundled/inspector.html']) {
      expect(isAppResource(built, url), url).toBe(true);
    }
    for (const url of ['file:///opt/app/out/renderer-other/x.js', 'file:///opt/app/out/renderer/../main/index.js', 'file:///home/me/.ssh/id_rsa', 'https://cdn.example.com/x.js', 'http://127.0.0.1:7770/api/v1/sandboxes', 'ws://localhost:5173/']) {
      expect(isAppResource(built, url), url).toBe(false);
    }
    expect(isAppResource(dev, 'ws://localhost:5173/')).toBe(true);
    expect(isAppResource(dev, 'http://localhost:5173/@vite/client')).toBe(true);
    expect(isAppResource(dev, 'https://example.com/')).toBe(false);
  });
});

describe('the session', () => {
  function fakeSession() {
    const handlers: Record<string, (...args: never[]) => unknown> = {};
    return {
      handlers,
      session: {
        webRequest: {
          onBeforeRequest: (handler: (...args: never[]) => unknown) => (handlers.beforeRequest = handler),
          onHeadersReceived: (handler: (...args: never[]) => unknown) => (handlers.headersReceived = handler),
        },
        setPermissionRequestHandler: (handler: (...args: never[]) => unknown) => (handlers.permissionRequest = handler),
        setPermissionCheckHandler: (handler: (...args: never[]) => unknown) => (handlers.permissionCheck = handler),
      },
    };
  }

  it('adds the strict CSP to every response, replacing any other', () => {
    const { session, handlers } = fakeSession();
    secureSession(session as never, built);
    let answer: { responseHeaders: Record<string, string[]> } | undefined;
    (handlers.headersReceived as (details: unknown, respond: (r: typeof answer) => void) => void)(
      { url: 'file:///opt/app/out/renderer/index.html', responseHeaders: { 'content-security-policy': ["default-src *"], 'x-other': ['1'] } },
      (r) => (answer = r),
    );
    expect(answer!.responseHeaders).toEqual({ 'x-other': ['1'], 'Content-Security-Policy': [CONTENT_SECURITY_POLICY] });
    for (const directive of ["default-src 'self'", "script-src 'self'", "style-src 'self' 'unsafe-inline'", "img-src 'self' data: blob:", "connect-src 'self'", "object-src 'none'"]) {
      expect(CONTENT_SECURITY_POLICY).toContain(directive);
    }
    expect(CONTENT_SECURITY_POLICY).not.toContain('unsafe-eval');
  });

  it('cancels requests for anything but the app, and denies every permission', () => {
    const { session, handlers } = fakeSession();
    secureSession(session as never, built);
    const cancelled = (url: string) => {
      let result: { cancel: boolean } | undefined;
      (handlers.beforeRequest as (details: unknown, respond: (r: { cancel: boolean }) => void) => void)({ url }, (r) => (result = r));
      return result!.cancel;
    };
    expect(cancelled('file:///opt/app/out/renderer/assets/app.js')).toBe(false);
    expect(cancelled('https://example.com/tracker.gif')).toBe(true);
    const granted: boolean[] = [];
    for (const permission of ['media', 'notifications', 'clipboard-read', 'geolocation']) {
      (handlers.permissionRequest as (contents: unknown, permission: string, respond: (granted: boolean) => void) => void)({}, permission, (g) => granted.push(g));
    }
    expect(granted).toEqual([false, false, false, false]);
    expect((handlers.permissionCheck as () => boolean)()).toBe(false);
  });
});

describe('the window contents', () => {
  it('opens no windows, navigates nowhere but its page, attaches no webviews', () => {
    const contents = Object.assign(new EventEmitter(), { windowOpenHandler: undefined as undefined | (() => unknown) });
    const setWindowOpenHandler = (handler: () => unknown) => (contents.windowOpenHandler = handler);
    secureWebContents(Object.assign(contents, { setWindowOpenHandler }) as never, built);
    expect(contents.windowOpenHandler!()).toEqual({ action: 'deny' });
    const prevented = (event: string, url?: string) => {
      let blocked = false;
      contents.emit(event, { preventDefault: () => (blocked = true) }, url);
      return blocked;
    };
    expect(prevented('will-navigate', 'https://example.com/')).toBe(true);
    expect(prevented('will-redirect', 'file:///etc/passwd')).toBe(true);
    expect(prevented('will-navigate', 'file:///opt/app/out/renderer/index.html#/sandboxes')).toBe(false);
    expect(prevented('will-attach-webview')).toBe(true);
  });
});

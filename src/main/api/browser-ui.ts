import { readFile, stat } from 'node:fs/promises';
import { join, resolve, sep } from 'node:path';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { parseSandboxPagePath, sandboxPagePath } from '../../shared/app-routes.js';
import type { DisplayTokens } from '../core/display/display-tokens.js';
import { projectRoot } from '../core/paths/app-paths.js';
import type { ApiToken } from './api-token.js';
import type { AuditLog } from './audit-log.js';
import { expiredDisplayLinkPage, signInPage, wrongTokenPage } from './browser-pages.js';
import { hasSession, openSession, requestHost, withoutTokenValue } from './browser-session.js';
import { problem } from './problem-details.js';
import { arrivedOverUnixSocket } from './request-transport.js';

/** Where `npm run build:ui` (and electron-vite) put the built renderer. */
export function defaultUiDir(): string {
  return join(projectRoot(), 'out', 'renderer');
}

export function uiIsBuilt(dir: string): Promise<boolean> {
  return isFile(join(dir, 'index.html'));
}

export interface BrowserUiOptions {
  dir: string;
  token: ApiToken;
  audit: AuditLog;
  /** Single-use links to one sandbox's display page (POST /sandboxes/{id}/display/link). */
  displayLinks: DisplayTokens;
}

interface SplitUrl {
  /** The raw path, percent-encoded as it arrived. */
  rawPath: string;
  query: URLSearchParams;
}

function splitUrl(url: string): SplitUrl {
  const at = url.indexOf('?');
  return at < 0 ? { rawPath: url, query: new URLSearchParams() } : { rawPath: url.slice(0, at), query: new URLSearchParams(url.slice(at + 1)) };
}

function decodedPath(rawPath: string): string | null {
  try {
    const path = decodeURIComponent(rawPath);
    return path.includes('\0') ? null : path;
  } catch {
    return null;
  }
}

/**
 * Browser mode: the built renderer, served by the daemon from every path that is no API
 * route. Assets hold no secrets and need no session; the app's page needs one over TCP,
 * and a browser without one gets a page saying how to open the printed link instead.
 */
export class BrowserUi {
  constructor(private readonly options: BrowserUiOptions) {}

  /**
   * Whether the UI answers this request: a GET no API route matched, outside /api and
   * /metrics. Only these skip the API's authentication, and the UI serves nothing but
   * its own files and pages.
   */
  handles(request: FastifyRequest): boolean {
    if (!request.is404 || (request.method !== 'GET' && request.method !== 'HEAD') || request.headers.upgrade) return false;
    const path = decodedPath(splitUrl(request.url).rawPath) ?? '';
    return !(path === '/metrics' || path === '/api' || path.startsWith('/api/'));
  }

  async serve(request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
    const { dir } = this.options;
    const { rawPath, query } = splitUrl(request.url);
    const path = decodedPath(rawPath);
    reply.header('x-content-type-options', 'nosniff').header('referrer-policy', 'no-referrer');
    if (!(await uiIsBuilt(dir))) {
      return reply
        .code(503)
        .type('application/problem+json')
        .send(problem('ui_not_built', `the UI is not built (no ${join(dir, 'index.html')}): run \`npm run build:ui\``, request.id));
    }
    const asset = path === null ? null : await this.assetPath(path);
    if (asset !== null) {
      // Vite names assets by their content hash, so a cached one never goes stale.
      const cache = asset.startsWith('assets/') ? { maxAge: '365d', immutable: true } : { maxAge: 0 };
      return reply.sendFile(asset, dir, cache);
    }
    if (!wantsPage(request, path)) {
      return reply
        .code(404)
        .type('application/problem+json')
        .send(problem('route_not_found', `no file ${path ?? rawPath} in the UI, and no API route ${request.method} ${rawPath}`, request.id));
    }

    reply.header('content-security-policy', contentSecurityPolicy(request)).header('cache-control', 'no-store').type('text/html; charset=utf-8');
    if (arrivedOverUnixSocket(request.raw)) return reply.send(await this.indexHtml());
    const presented = query.get('token');
    if (presented !== null) return this.signIn(request, reply, presented, rawPath, query);
    const link = query.get('link');
    if (link !== null) return this.openDisplayLink(request, reply, link, path);
    if (hasSession(request, this.options.token)) return reply.send(await this.indexHtml());
    return reply.send(signInPage());
  }

  /** `?token=` trades the token for the session cookie, then sends the browser on without the token in its address bar and history. */
  private async signIn(request: FastifyRequest, reply: FastifyReply, presented: string, rawPath: string, query: URLSearchParams): Promise<FastifyReply> {
    const { token, audit } = this.options;
    if (!token.matches(presented)) {
      await audit.record({ requestId: request.id, transport: 'tcp', remote: request.ip, method: request.method, url: withoutTokenValue(request.url), status: 401, outcome: 'denied' });
      return reply.code(401).send(wrongTokenPage());
    }
    query.delete('token');
    // Leading slashes collapsed: `//host` (or `/\host`) would be a redirect to another site.
    const target = `/${rawPath.replace(/^[/\\]+/, '')}${query.size > 0 ? `?${query}` : ''}`;
    return openSession(request, reply, token).code(303).header('location', target).send();
  }

  /**
   * A display link: its token, spent here, stands in for the daemon's token once, for the
   * display page of the sandbox it was issued for; the browser then has a session.
   */
  private async openDisplayLink(request: FastifyRequest, reply: FastifyReply, link: string, path: string | null): Promise<FastifyReply> {
    const { token, audit, displayLinks } = this.options;
    const page = parseSandboxPagePath(path ?? '');
    try {
      if (page?.tab !== 'display') throw new Error('a display link opens only a display page');
      displayLinks.spend(link, page.sandboxId);
    } catch {
      await audit.record({ requestId: request.id, transport: 'tcp', remote: request.ip, method: request.method, url: withoutTokenValue(request.url), status: 401, outcome: 'denied' });
      return reply.code(401).send(expiredDisplayLinkPage());
    }
    return openSession(request, reply, token).code(303).header('location', sandboxPagePath(page.sandboxId, 'display')).send();
  }

  /** A regular file of the build other than the page itself, as a path relative to the build directory. */
  private async assetPath(path: string): Promise<string | null> {
    const dir = resolve(this.options.dir);
    const file = resolve(dir, `.${path}`);
    if (!file.startsWith(`${dir}${sep}`) || file === join(dir, 'index.html')) return null;
    return (await isFile(file)) ? file.slice(dir.length + 1) : null;
  }

  /**
   * The built index.html. An electron-vite build refers to its assets relatively (`./assets/…`),
   * which would break under a deep link such as /sandboxes/x; from the daemon they are absolute.
   */
  private async indexHtml(): Promise<string> {
    const html = await readFile(join(this.options.dir, 'index.html'), 'utf8');
    return html.replace(/(\s(?:src|href)=")\.\//g, '$1/');
  }
}

async function isFile(path: string): Promise<boolean> {
  return (await stat(path).catch(() => null))?.isFile() ?? false;
}

/** The page for the root and for deep links a browser navigates to (the app routes them); anything else that is missing is a 404. */
function wantsPage(request: FastifyRequest, path: string | null): boolean {
  if (path === '/' || path === '/index.html') return true;
  return path !== null && (request.headers.accept ?? '').includes('text/html');
}

/** Same-origin everything; WebSockets only back to the listener that served the page. */
function contentSecurityPolicy(request: FastifyRequest): string {
  const host = requestHost(request);
  return [
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data: blob:",
    `connect-src 'self'${host ? ` ws://${host}` : ''}`,
    "object-src 'none'",
    "base-uri 'none'",
    "frame-ancestors 'none'",
  ].join('; ');
}

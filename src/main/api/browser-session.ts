import type { FastifyReply, FastifyRequest } from 'fastify';
import type { ApiToken } from './api-token.js';

/**
 * Browser sessions on the TCP listener. A page cannot attach a bearer token to a
 * WebSocket or a download, so the printed `/?token=` link trades the token for an
 * HttpOnly cookie (as Jupyter does); the cookie then stands in for the token, but only
 * for requests that come from this listener's own pages.
 */

/** Cookies ignore ports: one name per port keeps two daemons on one host from overwriting each other's session. */
function cookieName(request: FastifyRequest): string {
  return `microvm_session_${request.raw.socket.localPort ?? 0}`;
}

/** Whether the request carries this listener's session cookie for the current token (cookies parsed by @fastify/cookie). */
export function hasSession(request: FastifyRequest, token: ApiToken): boolean {
  const value = request.cookies[cookieName(request)];
  return value !== undefined && token.matchesSession(value);
}

/** Opens a session: the cookie lasts until the browser closes or the token is rotated. */
export function openSession(request: FastifyRequest, reply: FastifyReply, token: ApiToken): FastifyReply {
  return reply.setCookie(cookieName(request), token.sessionValue(), { httpOnly: true, sameSite: 'strict', path: '/' });
}

const HOST_HEADER = /^(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$/;

/** The Host header when it is a plain host[:port] (it ends up in the CSP header), else null. */
export function requestHost(request: FastifyRequest): string | null {
  const host = request.headers.host;
  return host !== undefined && HOST_HEADER.test(host) ? host : null;
}

/**
 * Why a cookie-authenticated request must be refused as cross-site, or null. The cookie
 * is SameSite=Strict already; the Origin check also stops what SameSite does not cover,
 * and a WebSocket (which browsers open cross-origin without asking) must prove its origin.
 */
export function crossSiteRefusal(request: FastifyRequest): string | null {
  const origin = request.headers.origin;
  const host = requestHost(request);
  const own = host === null ? null : `http://${host}`;
  if (origin === undefined) {
    return request.headers.upgrade ? 'a WebSocket opened with the session cookie must carry the Origin header of this listener\'s page' : null;
  }
  if (origin === own) return null;
  return `a request from ${origin} may not use this listener's browser session (only pages of ${own ?? 'this listener'} may)`;
}

/** The URL with `token` and `link` query parameters' values hidden, for logs and the audit log. */
export function withoutTokenValue(url: string): string {
  return url.replace(/([?&](?:token|link)=)[^&#]*/g, '$1<redacted>');
}

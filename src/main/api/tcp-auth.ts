import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Problem } from '../../shared/api/problem-schema.js';
import type { ApiApp } from './api-context.js';
import type { ApiToken } from './api-token.js';
import type { AuditLog } from './audit-log.js';
import type { BrowserUi } from './browser-ui.js';
import { crossSiteRefusal, hasSession, withoutTokenValue } from './browser-session.js';
import { problem } from './problem-details.js';
import { arrivedOverUnixSocket } from './request-transport.js';

const refusedReplies = new WeakSet<FastifyReply>();

/** A refused request leaves no trace beyond the audit log: the request log skips it. */
export function wasRefused(reply: FastifyReply): boolean {
  return refusedReplies.has(reply);
}

export interface TcpAuthOptions {
  token: ApiToken;
  audit: AuditLog;
  ui: BrowserUi;
}

/**
 * Authentication of everything that does not arrive over the Unix socket: the bearer
 * token, or the browser session cookie from a page of this listener. The UI's own files
 * and pages are left to the UI, which serves them without secrets.
 */
export function registerTcpAuth(app: ApiApp, { token, audit, ui }: TcpAuthOptions): void {
  app.addHook('onRequest', async (request, reply) => {
    if (arrivedOverUnixSocket(request.raw) || ui.handles(request)) return;
    const header = request.headers.authorization ?? '';
    const presented = header.startsWith('Bearer ') ? header.slice('Bearer '.length) : '';
    if (presented && token.matches(presented)) return;
    if (!presented && hasSession(request, token)) {
      const crossSite = crossSiteRefusal(request);
      if (crossSite === null) return;
      return refuse(request, reply, audit, problem('forbidden', crossSite, request.id));
    }
    const detail = presented ? 'the bearer token is not valid' : 'this listener needs an Authorization: Bearer <token> header (see `microvm token show`)';
    reply.header('www-authenticate', 'Bearer');
    return refuse(request, reply, audit, problem('unauthorized', detail, request.id));
  });
}

async function refuse(request: FastifyRequest, reply: FastifyReply, audit: AuditLog, body: Problem): Promise<FastifyReply> {
  await audit.record({ requestId: request.id, transport: 'tcp', remote: request.ip, method: request.method, url: withoutTokenValue(request.url), status: body.status, outcome: 'denied' });
  refusedReplies.add(reply);
  // A refused WebSocket upgrade is answered before @fastify/websocket sees it, so nothing would close its socket.
  if (request.headers.upgrade) reply.raw.once('finish', () => request.raw.socket.destroy());
  return reply.code(body.status).type('application/problem+json').send(body);
}

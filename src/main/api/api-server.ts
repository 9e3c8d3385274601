import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import Fastify, { LogController, type FastifyBaseLogger } from 'fastify';
import { AjvCompiler, type ValidatorFactory } from '@fastify/ajv-compiler';
import fastifySwagger from '@fastify/swagger';
import fastifySwaggerUi from '@fastify/swagger-ui';
import fastifyWebsocket from '@fastify/websocket';
import fastifyMultipart from '@fastify/multipart';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { Logger } from 'pino';
import { productVersion } from '../core/paths/product-version.js';
import type { ApiApp, ApiServices } from './api-context.js';
import type { ApiToken } from './api-token.js';
import type { AuditLog } from './audit-log.js';
import { problem, problemFrom } from './problem-details.js';
import { registerEventRoutes } from './routes/event-routes.js';
import { registerExecRoutes } from './routes/exec-routes.js';
import { registerFileRoutes } from './routes/file-routes.js';
import { registerLogRoutes } from './routes/log-routes.js';
import { registerMetricsRoutes } from './routes/metrics-routes.js';
import { registerSandboxRoutes } from './routes/sandbox-routes.js';
import { registerSnapshotRoutes } from './routes/snapshot-routes.js';
import { registerSystemRoutes } from './routes/system-routes.js';
import { registerTemplateRoutes } from './routes/template-routes.js';

export const API_PREFIX = '/api/v1';

const AJV_OPTIONS = { removeAdditional: false, allErrors: false } as const;

/**
 * Query strings and path parameters arrive as text and are coerced to their schema's types;
 * JSON bodies are typed already, so a body field of the wrong type is refused, not coerced
 * (`"argv": "ls"` is not `["ls"]`, `"vcpus": "2"` is not 2).
 */
const buildValidator: ValidatorFactory = (externalSchemas) => {
  const fromPool = AjvCompiler();
  const coercing = fromPool(externalSchemas, { customOptions: { ...AJV_OPTIONS, coerceTypes: 'array' } });
  const strict = fromPool(externalSchemas, { customOptions: { ...AJV_OPTIONS, coerceTypes: false } });
  return (route) => (route.httpPart === 'body' ? strict : coercing)(route);
};

export interface ApiServerOptions extends ApiServices {
  logger: Logger;
  token: ApiToken;
  audit: AuditLog;
}

/** Requests over the Unix socket carry no remote address; the socket's 0600 mode is their authentication. */
export function arrivedOverUnixSocket(raw: IncomingMessage): boolean {
  return raw.socket.remoteAddress === undefined;
}

/**
 * The daemon's HTTP application: every route under /api/v1 plus /metrics, validated by the
 * TypeBox schemas in src/shared/api (which also produce /api/v1/openapi.json), errors as
 * problem+json, request ids in logs and the X-Request-Id header, and bearer-token
 * authentication for anything not arriving over the Unix socket.
 */
export async function buildApiServer(options: ApiServerOptions): Promise<ApiApp> {
  const { logger, token, audit } = options;
  const app: ApiApp = Fastify({
    loggerInstance: logger as FastifyBaseLogger,
    // Requests are logged by the onResponse hook below, which keeps refused ones out of the log.
    logController: new LogController({ disableRequestLogging: true }),
    genReqId: () => randomUUID(),
    // Uploads stream through a parser of their own; JSON bodies are small.
    bodyLimit: 1024 * 1024,
    schemaController: { compilersFactory: { buildValidator } },
  }).withTypeProvider<TypeBoxTypeProvider>();

  app.addHook('onRequest', async (request, reply) => {
    reply.header('x-request-id', request.id);
    if (arrivedOverUnixSocket(request.raw)) return;
    const header = request.headers.authorization ?? '';
    const presented = header.startsWith('Bearer ') ? header.slice('Bearer '.length) : '';
    if (presented && token.matches(presented)) return;
    await audit.record({ requestId: request.id, transport: 'tcp', remote: request.ip, method: request.method, url: request.url, status: 401, outcome: 'denied' });
    const body = problem('unauthorized', presented ? 'the bearer token is not valid' : 'this listener needs an Authorization: Bearer <token> header (see `microvm token show`)', request.id);
    // Marked so onResponse does not log it: a refused request leaves no trace beyond the audit log.
    (reply as unknown as { refused: boolean }).refused = true;
    // A refused WebSocket upgrade is answered before @fastify/websocket sees it, so nothing would close its socket.
    if (request.headers.upgrade) reply.raw.once('finish', () => request.raw.socket.destroy());
    return reply.code(401).header('www-authenticate', 'Bearer').type('application/problem+json').send(body);
  });

  app.addHook('onResponse', async (request, reply) => {
    if ((reply as unknown as { refused?: boolean }).refused) return;
    // request.log already carries reqId.
    const entry = { method: request.method, url: request.url, status: reply.statusCode, ms: Math.round(reply.elapsedTime) };
    if (reply.statusCode >= 500) request.log.error(entry, 'request failed');
    else request.log.info(entry, 'request');
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      const unix = arrivedOverUnixSocket(request.raw);
      await audit.record({
        requestId: request.id,
        transport: unix ? 'unix' : 'tcp',
        remote: unix ? null : request.ip,
        method: request.method,
        url: request.url,
        status: reply.statusCode,
        outcome: 'allowed',
      });
    }
  });

  app.setErrorHandler((error, request, reply) => {
    const body = problemFrom(error, request.id);
    if (body.status >= 500) request.log.error({ err: error }, 'request error');
    return reply.code(body.status).type('application/problem+json').send(body);
  });
  app.setNotFoundHandler((request, reply) =>
    reply
      .code(404)
      .type('application/problem+json')
      .send(problem('route_not_found', `no route ${request.method} ${request.url.split('?')[0]}; the API is described at ${API_PREFIX}/openapi.json`, request.id)),
  );

  await app.register(fastifySwagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'MicroVM Sandbox API',
        version: productVersion(),
        description: 'Sandboxes in microVMs: lifecycle, exec, files, logs, templates, events. Errors are application/problem+json. The exec WebSocket protocol is in docs/api.md.',
      },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
      security: [{ bearer: [] }],
    },
  });
  await app.register(fastifySwaggerUi, { routePrefix: `${API_PREFIX}/docs`, uiConfig: { docExpansion: 'list' } });
  await app.register(fastifyWebsocket, { options: { maxPayload: 4 * 1024 * 1024 } });
  // preservePath: a part's filename may be a relative path (folder uploads); busboy would cut it to its last segment.
  await app.register(fastifyMultipart, { preservePath: true, limits: { fileSize: Number.MAX_SAFE_INTEGER, files: 10_000 } });

  await app.register(
    async (api) => {
      const scoped = api as ApiApp;
      registerSandboxRoutes(scoped, options);
      registerSnapshotRoutes(scoped, options);
      registerExecRoutes(scoped, options);
      registerFileRoutes(scoped, options);
      registerLogRoutes(scoped, options);
      registerTemplateRoutes(scoped, options);
      registerEventRoutes(scoped, options);
      registerSystemRoutes(scoped, options);
      scoped.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
    },
    { prefix: API_PREFIX },
  );
  registerMetricsRoutes(app, options);
  return app;
}

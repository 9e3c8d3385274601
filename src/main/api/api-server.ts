import { randomUUID } from 'node:crypto';
import Fastify, { LogController, type FastifyBaseLogger } from 'fastify';
import { AjvCompiler, type ValidatorFactory } from '@fastify/ajv-compiler';
import fastifyCookie from '@fastify/cookie';
import fastifySwagger from '@fastify/swagger';
import fastifySwaggerUi from '@fastify/swagger-ui';
import fastifyWebsocket from '@fastify/websocket';
import fastifyMultipart from '@fastify/multipart';
import fastifyStatic from '@fastify/static';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { Logger } from 'pino';
import { productVersion } from '../core/paths/product-version.js';
import type { ApiApp, ApiServices } from './api-context.js';
import type { ApiToken } from './api-token.js';
import type { AuditLog } from './audit-log.js';
import { BrowserUi, defaultUiDir } from './browser-ui.js';
import { withoutTokenValue } from './browser-session.js';
import { problem, problemFrom } from './problem-details.js';
import { registerComputerRoutes } from './routes/computer-routes.js';
import { registerDisplayRoutes } from './routes/display-routes.js';
import { registerMcpRoutes } from './routes/mcp-routes.js';
import { DISPLAY_LINK_TTL_MS, DisplayTokens } from '../core/display/display-tokens.js';
import { registerEventRoutes } from './routes/event-routes.js';
import { registerExecRoutes } from './routes/exec-routes.js';
import { registerFileRoutes } from './routes/file-routes.js';
import { registerLogRoutes } from './routes/log-routes.js';
import { registerMetricsRoutes } from './routes/metrics-routes.js';
import { registerPortRoutes } from './routes/port-routes.js';
import { registerSandboxRoutes } from './routes/sandbox-routes.js';
import { registerSnapshotRoutes } from './routes/snapshot-routes.js';
import { registerSystemRoutes } from './routes/system-routes.js';
import { registerTemplateRoutes } from './routes/template-routes.js';
import { registerUsageRoutes } from './routes/usage-routes.js';
import { arrivedOverUnixSocket } from './request-transport.js';
import { registerTcpAuth, wasRefused } from './tcp-auth.js';

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
  /** The built renderer served in browser mode; defaults to the checkout's out/renderer. */
  uiDir?: string;
  /** The daemon's Unix socket, where /mcp's tools reach the API; without it there is no /mcp. */
  socketPath?: string;
}

/**
 * The daemon's HTTP application: every route under /api/v1 plus /metrics, validated by the
 * TypeBox schemas in src/shared/api (which also produce /api/v1/openapi.json), errors as
 * problem+json, request ids in logs and the X-Request-Id header, bearer-token (or browser
 * session) authentication for anything not arriving over the Unix socket, and the built UI
 * on every other path (browser mode).
 */
export async function buildApiServer(options: ApiServerOptions): Promise<ApiApp> {
  const { logger, token, audit } = options;
  const app: ApiApp = Fastify({
    loggerInstance: logger as FastifyBaseLogger,
    // Requests are logged by the onResponse hook below, which keeps refused ones out of the log.
    logController: new LogController({ disableRequestLogging: true }),
    genReqId: () => randomUUID(),
    // Event streams and log follows never end on their own: closing must cut them.
    forceCloseConnections: true,
    // Uploads stream through a parser of their own; JSON bodies are small.
    bodyLimit: 1024 * 1024,
    schemaController: { compilersFactory: { buildValidator } },
  }).withTypeProvider<TypeBoxTypeProvider>();

  // Registered before the authentication hook, which reads the browser session cookie.
  await app.register(fastifyCookie);
  const displayLinks = new DisplayTokens({ ttlMs: DISPLAY_LINK_TTL_MS });
  const ui = new BrowserUi({ dir: options.uiDir ?? defaultUiDir(), token, audit, displayLinks });
  app.addHook('onRequest', async (request, reply) => {
    reply.header('x-request-id', request.id).header('x-content-type-options', 'nosniff');
  });
  registerTcpAuth(app, { token, audit, ui });

  app.addHook('onResponse', async (request, reply) => {
    if (wasRefused(reply)) return;
    // request.log already carries reqId.
    const entry = { method: request.method, url: withoutTokenValue(request.url), status: reply.statusCode, ms: Math.round(reply.elapsedTime) };
    if (reply.statusCode >= 500) request.log.error(entry, 'request failed');
    // The UI's pages and assets would drown the API's requests.
    else if (ui.handles(request)) request.log.debug(entry, 'ui request');
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
    // A client that hangs up mid-request (a cancelled upload) is not the daemon's fault.
    if (request.raw.destroyed || request.raw.aborted) request.log.debug({ err: error }, 'client went away mid-request');
    else if (body.status >= 500) request.log.error({ err: error }, 'request error');
    return reply.code(body.status).type('application/problem+json').send(body);
  });
  app.setNotFoundHandler((request, reply) =>
    ui.handles(request)
      ? ui.serve(request, reply)
      : reply
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
  // Only reply.sendFile, for the UI's files: a route per file would be API surface, and the build may appear after the daemon starts.
  await app.register(fastifyStatic, { serve: false });
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
      registerUsageRoutes(scoped, options);
      registerComputerRoutes(scoped, options);
      registerDisplayRoutes(scoped, options, { links: displayLinks });
      registerPortRoutes(scoped, options);
      scoped.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
    },
    { prefix: API_PREFIX },
  );
  registerMetricsRoutes(app, options);
  if (options.socketPath) registerMcpRoutes(app, { socketPath: options.socketPath });
  return app;
}

import type { Duplex } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import type { FastifyRequest } from 'fastify';
import { DisplayLinkSchema, DisplaySessionSchema, DisplaySocketQuerySchema, type DisplayLink, type DisplaySession } from '../../../shared/api/display-schemas.js';
import { sandboxPagePath } from '../../../shared/app-routes.js';
import { ProblemSchema } from '../../../shared/api/problem-schema.js';
import { SandboxParamsSchema } from '../../../shared/api/sandbox-schemas.js';
import type { AgentClient } from '../../core/agent/agent-client.js';
import { ComputerService, GUEST_VNC_PORT } from '../../core/computer/computer-service.js';
import { relayWebSocket } from '../../core/display/display-relay.js';
import { DisplayTokens } from '../../core/display/display-tokens.js';
import { SandboxError } from '../../core/errors/sandbox-error.js';
import type { ApiApp, ApiServices } from '../api-context.js';
import { requestHost } from '../browser-session.js';
import { arrivedOverUnixSocket } from '../request-transport.js';
import { needsUpgrade } from '../websocket-route.js';

const tags = ['display'];

export interface DisplayRouteOptions {
  /** The token store; one per server by default (tests pass one with a short TTL). */
  tokens?: DisplayTokens;
  /** Tests only: where the tunnel goes instead of GUEST_VNC_PORT. Never from a request. */
  guestPort?: number;
  /** Display links' tokens, shared with the browser UI that redeems them. */
  links: DisplayTokens;
}

/**
 * The VNC console (docs/computer-use.md): a token per connection, then a WebSocket that
 * the daemon joins to the guest's VNC server through the agent's TCP forward. The guest
 * port is the template's (GUEST_VNC_PORT), never the client's choice, so this is no proxy
 * to anywhere else; and every refusal happens before the upgrade.
 */
export function registerDisplayRoutes(app: ApiApp, { manager, tcpUrl }: ApiServices, options: DisplayRouteOptions): void {
  const computer = new ComputerService(manager);
  const tokens = options.tokens ?? new DisplayTokens();
  const guestPort = options.guestPort ?? GUEST_VNC_PORT;

  app.post(
    '/sandboxes/:id/display',
    {
      schema: {
        tags,
        summary: "A short-lived token (single use, this sandbox only) for the display's VNC WebSocket",
        params: SandboxParamsSchema,
        response: { 200: DisplaySessionSchema, 404: ProblemSchema, 409: ProblemSchema },
      },
    },
    async (request): Promise<DisplaySession> => {
      const display = computer.display(request.params.id);
      // Only a running sandbox has a screen to show (a stopped one is invalid_state).
      await manager.agent(display.sandboxId);
      const { token, expiresAt } = tokens.issue(display.sandboxId);
      const url = request.url.split('?')[0]!;
      const prefix = url.slice(0, url.indexOf('/sandboxes/'));
      const path = `${prefix}/sandboxes/${encodeURIComponent(display.sandboxId)}/display/ws?token=${token}`;
      const host = arrivedOverUnixSocket(request.raw) ? null : requestHost(request);
      return {
        sandboxId: display.sandboxId,
        path,
        url: host === null ? null : `ws://${host}${path}`,
        token,
        expiresAt: new Date(expiresAt).toISOString(),
        width: display.width,
        height: display.height,
      };
    },
  );

  app.post(
    '/sandboxes/:id/display/link',
    {
      schema: {
        tags,
        summary: "A single-use link, valid for a few minutes, that opens the sandbox's Display tab in a browser (needs the daemon's TCP listener)",
        params: SandboxParamsSchema,
        response: { 200: DisplayLinkSchema, 404: ProblemSchema, 409: ProblemSchema, 503: ProblemSchema },
      },
    },
    async (request): Promise<DisplayLink> => {
      const display = computer.display(request.params.id);
      await manager.agent(display.sandboxId);
      const base = tcpUrl?.() ?? null;
      if (base === null) {
        throw new SandboxError('display_unavailable', 'the daemon has no TCP listener for a browser to open: start it with `microvm serve --port 7770` (or `npm start`)');
      }
      const { token, expiresAt } = options.links.issue(display.sandboxId);
      return {
        sandboxId: display.sandboxId,
        url: `${base.replace(/\/$/, '')}${sandboxPagePath(display.sandboxId, 'display')}?link=${token}`,
        expiresAt: new Date(expiresAt).toISOString(),
      };
    },
  );

  app.route({
    method: 'GET',
    url: '/sandboxes/:id/display/ws',
    schema: {
      tags,
      summary: "WebSocket: the display's VNC (RFB) stream; needs ?token= from POST /sandboxes/{id}/display",
      params: SandboxParamsSchema,
      querystring: DisplaySocketQuerySchema,
      response: { 401: ProblemSchema, 403: ProblemSchema, 404: ProblemSchema, 409: ProblemSchema },
    },
    preHandler: async (request) => {
      const { token } = request.query as { token?: string };
      // A request without a token learns nothing else, not even whether the sandbox exists.
      if (!token) tokens.check(undefined, '');
      const refusal = foreignOrigin(request);
      if (refusal) throw new SandboxError('forbidden', refusal);
      const sandbox = manager.get((request.params as { id: string }).id);
      tokens.check(token, sandbox.id);
      computer.display(sandbox.id);
      await manager.agent(sandbox.id);
      tokens.spend(token, sandbox.id);
    },
    handler: needsUpgrade,
    wsHandler: (socket, request) => {
      const sandboxId = manager.get(request.params.id).id;
      void (async () => {
        const tunnel = await connectWhenListening(() => manager.agent(sandboxId), guestPort, () => socket.readyState !== socket.OPEN);
        if (socket.readyState !== socket.OPEN) {
          tunnel.destroy();
          return;
        }
        await relayWebSocket(socket, tunnel);
      })().catch((error: unknown) => {
        const code = error instanceof SandboxError ? error.code : 'internal';
        request.log.debug({ err: error, sandboxId }, 'display connection failed');
        if (socket.readyState === socket.OPEN) socket.close(1011, code.slice(0, 100));
      });
    },
  });
}

/** How long a just-created sandbox's VNC server gets to start listening before the connection is given up. */
const STARTING_GRACE_MS = 15_000;

/**
 * The tunnel to the guest's VNC server. Right after a sandbox is created (or restored) its
 * services are still starting, so a refused connection is tried again for a few seconds.
 */
async function connectWhenListening(agent: () => Promise<AgentClient>, port: number, abandoned: () => boolean): Promise<Duplex> {
  const deadline = Date.now() + STARTING_GRACE_MS;
  for (;;) {
    try {
      return await (await agent()).tcpConnect(port, '127.0.0.1');
    } catch (error) {
      if (!(error instanceof SandboxError && error.code === 'connection_refused') || Date.now() > deadline || abandoned()) throw error;
      await sleep(250);
    }
  }
}

/**
 * Why an Origin must be refused, or null. A browser page may open this WebSocket only from
 * the daemon's own origin; a client that sends no Origin (the SDK, over the Unix socket or
 * with the bearer token) is not a page another site could have opened.
 */
function foreignOrigin(request: FastifyRequest): string | null {
  const origin = request.headers.origin;
  if (origin === undefined) return null;
  const host = requestHost(request);
  if (host !== null && origin === `http://${host}`) return null;
  return `a display WebSocket from ${origin} is refused: only the daemon's own pages may open it`;
}

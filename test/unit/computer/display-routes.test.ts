import { once } from 'node:events';
import { createServer, connect, type Server } from 'node:net';
import type { AddressInfo } from 'node:net';
import Fastify from 'fastify';
import fastifyWebsocket from '@fastify/websocket';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import type { ApiApp, ApiServices } from '../../../src/main/api/api-context.js';
import { problemFrom } from '../../../src/main/api/problem-details.js';
import { registerDisplayRoutes } from '../../../src/main/api/routes/display-routes.js';
import { DisplayTokens } from '../../../src/main/core/display/display-tokens.js';
import { SandboxError } from '../../../src/main/core/errors/sandbox-error.js';
import type { DisplaySession } from '../../../src/shared/api/display-schemas.js';

/**
 * The display routes against a stand-in manager: sandboxes a and b have a display, m has
 * none, s is stopped. The "guest's VNC server" is an echo server on this host that the
 * stand-in agent's tcpConnect reaches, so what comes back through the WebSocket went the
 * whole way through the relay.
 */
const sandboxes: Record<string, { id: string; name: string; template: string; state: string }> = {
  a: { id: 'id-a', name: 'a', template: 'desk', state: 'running' },
  b: { id: 'id-b', name: 'b', template: 'desk', state: 'running' },
  m: { id: 'id-m', name: 'm', template: 'minimal', state: 'running' },
  s: { id: 'id-s', name: 's', template: 'desk', state: 'stopped' },
};

let echo: Server;
let app: ApiApp;
let base: string;
const connectedPorts: number[] = [];
const tokens = new DisplayTokens({ ttlMs: 60_000 });

beforeAll(async () => {
  echo = createServer((socket) => socket.pipe(socket));
  echo.listen(0, '127.0.0.1');
  await once(echo, 'listening');
  const echoPort = (echo.address() as AddressInfo).port;
  const find = (idOrName: string) => Object.values(sandboxes).find((s) => s.id === idOrName || s.name === idOrName);
  const manager = {
    get(idOrName: string) {
      const found = find(idOrName);
      if (!found) throw new SandboxError('not_found', `no sandbox with id or name "${idOrName}"`);
      return found;
    },
    async agent(idOrName: string) {
      const found = manager.get(idOrName);
      if (found.state !== 'running') throw new SandboxError('invalid_state', `cannot reach the agent of sandbox "${found.name}": it is ${found.state}`);
      return {
        async tcpConnect(port: number, host: string) {
          connectedPorts.push(port);
          const socket = connect(port, host);
          await once(socket, 'connect');
          return socket;
        },
      };
    },
    templates: {
      definition: (name: string) => ({ display: name === 'desk' ? { width: 1280, height: 800, depth: 24 } : null, services: [] }),
    },
  };
  app = Fastify() as unknown as ApiApp;
  await app.register(fastifyWebsocket);
  app.setErrorHandler((error, request, reply) => {
    const body = problemFrom(error, request.id);
    return reply.code(body.status).type('application/problem+json').send(body);
  });
  await app.register(async (api) => registerDisplayRoutes(api as ApiApp, { manager } as unknown as ApiServices, { tokens, guestPort: echoPort, links: new DisplayTokens() }), { prefix: '/api/v1' });
  base = await app.listen({ port: 0, host: '127.0.0.1' });
});

afterAll(async () => {
  await app?.close();
  echo?.close();
});

async function session(id: string): Promise<DisplaySession> {
  const response = await fetch(`${base}/api/v1/sandboxes/${id}/display`, { method: 'POST' });
  expect(response.status).toBe(200);
  return (await response.json()) as DisplaySession;
}

/** The HTTP status and problem code a refused upgrade answers with, or 101 once open. */
function upgrade(path: string, headers: Record<string, string> = {}): Promise<{ status: number; code?: string; socket?: WebSocket }> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(`${base.replace('http', 'ws')}${path}`, { headers });
    socket.once('open', () => resolve({ status: 101, socket }));
    socket.once('unexpected-response', (_request, response) => {
      let text = '';
      response.on('data', (chunk: Buffer) => (text += chunk.toString()));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, code: (JSON.parse(text) as { code: string }).code }));
      socket.on('error', () => undefined);
    });
    socket.once('error', reject);
  });
}

describe('the display routes', () => {
  it('hand out a short-lived token for a sandbox with a display, and refuse one without', async () => {
    const issued = await session('a');
    expect(issued.sandboxId).toBe('id-a');
    expect(issued.path).toBe(`/api/v1/sandboxes/id-a/display/ws?token=${issued.token}`);
    expect(issued.url).toBe(`${base.replace('http', 'ws')}${issued.path}`);
    expect(Date.parse(issued.expiresAt) - Date.now()).toBeGreaterThan(50_000);
    expect(Date.parse(issued.expiresAt) - Date.now()).toBeLessThanOrEqual(60_000);
    expect({ width: issued.width, height: issued.height }).toEqual({ width: 1280, height: 800 });

    const none = await fetch(`${base}/api/v1/sandboxes/m/display`, { method: 'POST' });
    expect(none.status).toBe(409);
    expect(((await none.json()) as { code: string; detail: string }).code).toBe('no_display');
    expect((await fetch(`${base}/api/v1/sandboxes/s/display`, { method: 'POST' })).status).toBe(409);
    expect((await fetch(`${base}/api/v1/sandboxes/nope/display`, { method: 'POST' })).status).toBe(404);
  });

  it('refuse a missing, wrong, foreign or cross-origin token before upgrading', async () => {
    expect(await upgrade('/api/v1/sandboxes/id-a/display/ws')).toEqual({ status: 401, code: 'unauthorized' });
    // Without a token nothing else is revealed: an unknown sandbox is still 401.
    expect(await upgrade('/api/v1/sandboxes/nope/display/ws')).toEqual({ status: 401, code: 'unauthorized' });
    expect(await upgrade('/api/v1/sandboxes/id-a/display/ws?token=not-a-token')).toEqual({ status: 401, code: 'unauthorized' });
    const forA = await session('a');
    expect(await upgrade(`/api/v1/sandboxes/id-b/display/ws?token=${forA.token}`)).toEqual({ status: 403, code: 'forbidden' });
    expect(await upgrade(forA.path, { origin: 'http://evil.example' })).toEqual({ status: 403, code: 'forbidden' });
    expect(await upgrade(forA.path, { origin: `${base}.evil.example` })).toEqual({ status: 403, code: 'forbidden' });
    // None of the refusals spent it, and no tunnel was opened.
    expect(connectedPorts).toEqual([]);
    const opened = await upgrade(forA.path, { origin: base });
    expect(opened.status).toBe(101);
    opened.socket!.close();
  });

  it('relay bytes both ways to the fixed guest port, once per token', async () => {
    const issued = await session('b');
    const { status, socket } = await upgrade(issued.path);
    expect(status).toBe(101);
    const payload = Buffer.alloc(3 * 1024 * 1024, 7);
    let received = 0;
    const done = new Promise<void>((resolve) =>
      socket!.on('message', (data: Buffer) => {
        received += data.length;
        if (received >= payload.length) resolve();
      }),
    );
    for (let i = 0; i < payload.length; i += 64 * 1024) socket!.send(payload.subarray(i, i + 64 * 1024));
    await done;
    expect(received).toBe(payload.length);
    expect(connectedPorts.at(-1)).toBe((echo.address() as AddressInfo).port);
    socket!.close();
    // Spent: the same token opens nothing again.
    expect(await upgrade(issued.path)).toEqual({ status: 401, code: 'unauthorized' });
  });

  it('refuse an expired token and a sandbox that stopped', async () => {
    const short = new DisplayTokens({ ttlMs: 1 });
    const { token } = short.issue('id-a');
    await new Promise((resolve) => setTimeout(resolve, 5));
    expect(() => short.check(token, 'id-a')).toThrow(/expired/);
    const forS = tokens.issue('id-s');
    expect(await upgrade(`/api/v1/sandboxes/id-s/display/ws?token=${forS.token}`)).toEqual({ status: 409, code: 'invalid_state' });
    const forM = tokens.issue('id-m');
    expect(await upgrade(`/api/v1/sandboxes/id-m/display/ws?token=${forM.token}`)).toEqual({ status: 409, code: 'no_display' });
  });
});

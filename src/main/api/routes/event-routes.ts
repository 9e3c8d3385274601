import type { ServerResponse } from 'node:http';
import type { SandboxEvent } from '../../../shared/api/event-schemas.js';
import type { ApiApp, ApiServices } from '../api-context.js';
import { needsUpgrade } from '../websocket-route.js';

const tags = ['events'];
const HEARTBEAT_MS = 15_000;

export function registerEventRoutes(app: ApiApp, { manager }: ApiServices): void {
  app.get(
    '/events',
    { schema: { tags, summary: 'Server-Sent Events: every state change and build progress, as `data: <SandboxEvent JSON>`' } },
    async (request, reply) => {
      reply.hijack();
      const raw: ServerResponse = reply.raw;
      raw.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', 'x-request-id': request.id });
      raw.write(': connected\n\n');
      const onEvent = (event: SandboxEvent) => raw.write(`event: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`);
      const heartbeat = setInterval(() => raw.write(': heartbeat\n\n'), HEARTBEAT_MS);
      manager.on('event', onEvent);
      request.raw.on('close', () => {
        clearInterval(heartbeat);
        manager.off('event', onEvent);
      });
    },
  );

  app.route({
    method: 'GET',
    url: '/events/ws',
    schema: { tags, summary: 'WebSocket: the same events as /events, one JSON text message each' },
    handler: needsUpgrade,
    wsHandler: (socket) => {
      const onEvent = (event: SandboxEvent) => socket.send(JSON.stringify(event));
      manager.on('event', onEvent);
      socket.on('close', () => manager.off('event', onEvent));
    },
  });
}

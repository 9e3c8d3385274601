import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { createMcpServer } from '../../mcp/mcp-server.js';
import type { ApiApp } from '../api-context.js';
import { problem } from '../problem-details.js';

/**
 * The MCP server over Streamable HTTP at /mcp (docs/mcp.md), behind the same
 * authentication as the API (bearer token over TCP). Stateless: each POST gets a fresh
 * server and transport, so there are no sessions to expire or leak, and the answer
 * streams as SSE when the call reports progress. The tools reach the manager through
 * the SDK on the daemon's own Unix socket, exactly as `microvm mcp` does from outside.
 */
export function registerMcpRoutes(app: ApiApp, { socketPath }: { socketPath: string }): void {
  app.route({
    method: ['GET', 'POST', 'DELETE'],
    url: '/mcp',
    schema: { hide: true },
    handler: async (request, reply) => {
      if (request.method !== 'POST') {
        // Without sessions there is no server-to-client stream to GET, nor a session to DELETE.
        return reply
          .code(405)
          .header('allow', 'POST')
          .type('application/problem+json')
          .send(problem('method_not_allowed', `${request.method} /mcp: this MCP endpoint is stateless; send JSON-RPC messages with POST`, request.id));
      }
      const server = createMcpServer({ socketPath });
      const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined });
      reply.hijack();
      reply.raw.on('close', () => {
        void transport.close();
        void server.close();
      });
      await server.connect(transport);
      await transport.handleRequest(request.raw, reply.raw, request.body);
    },
  });
}

import { McpServer, ResourceTemplate } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { CallToolResult, ServerNotification, ServerRequest } from '@modelcontextprotocol/sdk/types.js';
import type { RequestHandlerExtra } from '@modelcontextprotocol/sdk/shared/protocol.js';
import { Sandbox, type ClientOptions } from '../../sdk/index.js';
import { MicrovmError } from '../../sdk/microvm-error.js';
import type { ToolContext, ToolOutput } from '../../sdk/tools/sandbox-tool-set.js';
import { productVersion } from '../core/paths/product-version.js';
import { sandboxMcpTools } from './sandbox-mcp-tools.js';

type Extra = RequestHandlerExtra<ServerRequest, ServerNotification>;

const INSTRUCTIONS =
  'Sandboxes are Linux microVMs on the user\'s machine for running code safely. Create one with create_sandbox (template "ai-agent" has ' +
  'python3, node and build tools), then use run_command, execute_code and the file tools with its sandbox_id. Snapshot before risky steps ' +
  '(snapshot_sandbox) and go back with restore_snapshot, or try alternatives side by side with fork_sandbox. Sandboxes have no network. ' +
  'Destroy sandboxes you no longer need. Desktop sandboxes also take screenshot, click, type, key, scroll, move and drag.';

/**
 * An MCP server for one daemon (docs/mcp.md). Every tool and resource goes through the
 * TypeScript SDK to the daemon at `client`, so `microvm mcp` (stdio) and the daemon's own
 * /mcp endpoint serve the same thing. A failing call becomes a tool result with isError
 * and the daemon's error code, never a broken connection.
 */
export function createMcpServer(client: ClientOptions): McpServer {
  const server = new McpServer({ name: 'microvm-sandbox', title: 'MicroVM Sandbox', version: productVersion() }, { instructions: INSTRUCTIONS, capabilities: { logging: {} } });

  for (const tool of sandboxMcpTools(client)) {
    server.registerTool(
      tool.name,
      {
        title: tool.title,
        description: tool.description,
        inputSchema: tool.input,
        annotations: { title: tool.title, readOnlyHint: tool.readOnly ?? false, destructiveHint: tool.destructive ?? false, openWorldHint: false },
      },
      async (args: Record<string, unknown>, extra: Extra): Promise<CallToolResult> => {
        try {
          return toCallToolResult(await tool.run(args, toolContext(extra)));
        } catch (error) {
          return errorResult(error);
        }
      },
    );
  }

  server.registerResource(
    'sandboxes',
    'microvm://sandboxes',
    { title: 'Sandboxes', description: 'Every sandbox with its id, name, state and template (JSON).', mimeType: 'application/json' },
    async (uri) => ({ contents: [{ uri: uri.href, mimeType: 'application/json', text: JSON.stringify(await Sandbox.list(client), null, 2) }] }),
  );
  server.registerResource(
    'snapshot-tree',
    new ResourceTemplate('microvm://sandboxes/{sandbox}/snapshots', {
      list: async () => ({
        resources: (await Sandbox.list(client)).map((s) => ({ uri: `microvm://sandboxes/${encodeURIComponent(s.name)}/snapshots`, name: `${s.name} snapshots`, mimeType: 'application/json' })),
      }),
    }),
    { title: 'Snapshot tree', description: "A sandbox's snapshots, oldest first, parentId links making the tree, and `current` (JSON).", mimeType: 'application/json' },
    async (uri, variables) => {
      const tree = await (await Sandbox.connect(decodeURIComponent(String(variables.sandbox)), client)).snapshots.tree();
      return { contents: [{ uri: uri.href, mimeType: 'application/json', text: JSON.stringify(tree, null, 2) }] };
    },
  );
  return server;
}

/**
 * Progress notifications when the client asked for them (a progressToken): a count that
 * only grows, with the message, since most steps have no known total.
 */
function toolContext(extra: Extra): ToolContext {
  const token = extra._meta?.progressToken;
  if (token === undefined) return { signal: extra.signal };
  let progress = 0;
  return {
    signal: extra.signal,
    progress: (message) => {
      progress += 1;
      void extra.sendNotification({ method: 'notifications/progress', params: { progressToken: token, progress, message } }).catch(() => undefined);
    },
  };
}

function toCallToolResult(output: ToolOutput): CallToolResult {
  return {
    content: [{ type: 'text', text: output.text }, ...output.images.map((image) => ({ type: 'image' as const, data: image.data, mimeType: image.mimeType }))],
    structuredContent: output.data,
    ...(output.isError ? { isError: true } : {}),
  };
}

/** The daemon's code leads the message, so a model can tell "no such sandbox" from "bad argument". */
function errorResult(error: unknown): CallToolResult {
  const message = error instanceof MicrovmError ? `[${error.code}] ${error.message}` : error instanceof Error ? error.message : String(error);
  return { content: [{ type: 'text', text: message }], isError: true };
}

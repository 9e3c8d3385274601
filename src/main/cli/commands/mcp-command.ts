import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import type { Command } from 'commander';
import { createMcpServer } from '../../mcp/mcp-server.js';
import { daemonClient } from '../daemon-autostart.js';

/**
 * `microvm mcp`: the MCP server over stdio, for AI clients that start it as a process
 * (Claude Desktop, Cursor, VS Code; docs/mcp.md). It talks to the daemon like any other
 * command, starting one in the background when none answers. stdout carries only the
 * protocol; anything for a human goes to stderr.
 */
export function registerMcpCommand(program: Command): void {
  program
    .command('mcp')
    .description('serve the Model Context Protocol over stdio (for Claude Desktop, Cursor, VS Code)')
    .action(async () => {
      await daemonClient();
      const server = createMcpServer({});
      const transport = new StdioServerTransport();
      const closed = new Promise<void>((resolve) => {
        transport.onclose = resolve;
        // The client closing our stdin is how a stdio MCP session ends.
        process.stdin.once('end', resolve);
      });
      await server.connect(transport);
      await closed;
      await server.close();
    });
}

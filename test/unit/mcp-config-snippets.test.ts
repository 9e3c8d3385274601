import { expect, it } from 'vitest';
import { forThisCheckout, readmeMcpConfigs } from '../support/mcp-config-snippets.js';

interface StdioServer {
  type?: string;
  command: string;
  args: string[];
}

const configs = readmeMcpConfigs();

it('the README has a config for Claude Desktop, Cursor and VS Code', () => {
  expect([...configs.keys()]).toEqual(['claude-desktop', 'cursor', 'vscode']);
});

it.each(['claude-desktop', 'cursor'])('the %s config is JSON with an mcpServers entry that runs `microvm mcp`', (name) => {
  const parsed = JSON.parse(configs.get(name)!) as { mcpServers: Record<string, StdioServer> };
  expect(Object.keys(parsed)).toEqual(['mcpServers']);
  expect(parsed.mcpServers.microvm).toEqual({ command: 'node', args: ['/path/to/microvm-sandbox/bin/microvm.js', 'mcp'] });
});

it('the VS Code config is JSON with a stdio server and an HTTP server whose token comes from a password input', () => {
  const parsed = JSON.parse(configs.get('vscode')!) as {
    inputs: { type: string; id: string; password?: boolean }[];
    servers: { microvm: StdioServer; 'microvm-http': { type: string; url: string; headers: Record<string, string> } };
  };
  expect(parsed.servers.microvm).toEqual({ type: 'stdio', command: 'node', args: ['/path/to/microvm-sandbox/bin/microvm.js', 'mcp'] });
  const http = parsed.servers['microvm-http'];
  expect(http.type).toBe('http');
  expect(new URL(http.url)).toMatchObject({ hostname: '127.0.0.1', pathname: '/mcp' });
  const input = /^Bearer \$\{input:([a-z-]+)\}$/.exec(http.headers.Authorization!)?.[1];
  expect(parsed.inputs).toEqual([expect.objectContaining({ type: 'promptString', id: input, password: true })]);
});

it('a snippet made this checkout\'s stays valid JSON', () => {
  const config = JSON.parse(forThisCheckout(configs.get('claude-desktop')!)) as { mcpServers: { microvm: StdioServer } };
  expect(config.mcpServers.microvm.args[0]).toMatch(/^\/.+\/bin\/microvm\.js$/);
  expect(config.mcpServers.microvm.args[0]).not.toContain('/path/to/');
});

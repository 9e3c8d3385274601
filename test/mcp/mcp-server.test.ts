import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { Ajv } from 'ajv';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Sandbox } from '../../src/sdk/index.js';
import { startTestDaemon, type TestDaemon } from '../support/daemon-harness.js';
import { forThisCheckout, readmeMcpConfigs } from '../support/mcp-config-snippets.js';
import { decodePng } from '../support/png-pixels.js';

/**
 * The MCP server as AI clients use it: the official SDK's client spawns `microvm mcp`
 * (stdio) and talks to the daemon's /mcp (Streamable HTTP), against a real daemon and VMs.
 */
const LONG = { timeout: 280_000, resetTimeoutOnProgress: true };

const EXPECTED_TOOLS = [
  'create_sandbox', 'list_sandboxes', 'destroy_sandbox',
  'run_command', 'execute_code', 'write_file', 'read_file', 'list_files',
  'snapshot_sandbox', 'list_snapshots', 'restore_snapshot', 'fork_sandbox',
  'screenshot', 'click', 'move', 'drag', 'scroll', 'type', 'key', 'get_display_url',
];

let daemon: TestDaemon;

beforeAll(async () => {
  daemon = await startTestDaemon({ tcp: true });
});

afterAll(async () => {
  if (!daemon) return;
  for (const info of await Sandbox.list({ socketPath: daemon.socketPath })) await (await Sandbox.connect(info.id, { socketPath: daemon.socketPath })).destroy();
  expect(await daemon.stop()).toEqual([]);
});

const textOf = (result: CallToolResult) => result.content.filter((c) => c.type === 'text').map((c) => (c as { text: string }).text).join('\n');

async function call(client: Client, name: string, args: Record<string, unknown>, onprogress?: (message: string) => void): Promise<CallToolResult> {
  return (await client.callTool({ name, arguments: args }, undefined, { ...LONG, ...(onprogress ? { onprogress: (p) => onprogress(p.message ?? '') } : {}) })) as CallToolResult;
}

async function succeed(client: Client, name: string, args: Record<string, unknown>): Promise<CallToolResult> {
  const result = await call(client, name, args);
  if (result.isError) throw new Error(`${name} failed: ${textOf(result)}`);
  return result;
}

describe('microvm mcp over stdio', () => {
  let client: Client;

  beforeAll(async () => {
    // Started exactly as the README's Claude Desktop config says, made this checkout's.
    const { command, args } = (JSON.parse(forThisCheckout(readmeMcpConfigs().get('claude-desktop')!)) as { mcpServers: { microvm: { command: string; args: string[] } } }).mcpServers.microvm;
    client = new Client({ name: 'microvm-test', version: '1.0.0' });
    await client.connect(new StdioClientTransport({ command, args, env: daemon.env as Record<string, string>, stderr: 'pipe' }));
  });

  afterAll(async () => client?.close());

  it('lists every tool, each with a description and a valid JSON schema', async () => {
    const { tools } = await client.listTools();
    expect(tools.map((t) => t.name).sort()).toEqual([...EXPECTED_TOOLS].sort());
    for (const tool of tools) {
      expect(tool.description!.length, tool.name).toBeGreaterThan(30);
      expect(tool.inputSchema.type).toBe('object');
      const draft2020 = String((tool.inputSchema as { $schema?: string }).$schema ?? '').includes('2020-12');
      const ajv = draft2020 ? new Ajv2020({ strict: false }) : new Ajv({ strict: false });
      expect(() => ajv.compile(tool.inputSchema), tool.name).not.toThrow();
    }
    const create = tools.find((t) => t.name === 'create_sandbox')!;
    expect(Object.keys(create.inputSchema.properties!)).toEqual(expect.arrayContaining(['name', 'template', 'vcpus', 'memory_mib', 'disk_mib']));
    expect(tools.find((t) => t.name === 'destroy_sandbox')!.annotations).toMatchObject({ destructiveHint: true });
    expect(tools.find((t) => t.name === 'list_files')!.annotations).toMatchObject({ readOnlyHint: true });
  });

  it('creates a sandbox, runs Python that prints and writes a file, reads it back, snapshots, restores and destroys', async () => {
    const progress: string[] = [];
    const created = await call(client, 'create_sandbox', { name: 'mcp-py', template: 'ai-agent' }, (m) => progress.push(m));
    expect(created.isError, textOf(created)).toBeFalsy();
    expect(created.structuredContent).toMatchObject({ name: 'mcp-py', state: 'running', template: 'ai-agent' });
    expect(progress.length).toBeGreaterThan(0);

    // A tiny PNG written with the standard library stands in for a plot.
    const code = [
      'import struct, zlib',
      'print("sum", sum(range(10)))',
      'open("/root/result.txt", "w").write("written by python\\n")',
      'def chunk(kind, data): return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))',
      'rows = b"".join(b"\\x00" + b"\\xff\\x00\\x00" * 4 for _ in range(3))',
      'png = b"\\x89PNG\\r\\n\\x1a\\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 4, 3, 8, 2, 0, 0, 0)) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")',
      'open("plot.png", "wb").write(png)',
    ].join('\n');
    const ran = await succeed(client, 'execute_code', { sandbox_id: 'mcp-py', language: 'python', code });
    expect(textOf(ran)).toContain('sum 45');
    expect(ran.structuredContent).toMatchObject({ exit_code: 0, timed_out: false });
    const images = ran.content.filter((c) => c.type === 'image') as { data: string; mimeType: string }[];
    expect(images).toHaveLength(1);
    expect(images[0]!.mimeType).toBe('image/png');
    expect(decodePng(Buffer.from(images[0]!.data, 'base64'))).toMatchObject({ width: 4, height: 3 });

    const read = await succeed(client, 'read_file', { sandbox_id: 'mcp-py', path: '/root/result.txt' });
    expect(textOf(read)).toBe('written by python\n');

    const snap = await succeed(client, 'snapshot_sandbox', { sandbox_id: 'mcp-py', name: 'before', description: 'after the first run' });
    expect(snap.structuredContent).toMatchObject({ name: 'before', current: true });
    await succeed(client, 'write_file', { sandbox_id: 'mcp-py', path: '/root/result.txt', content: 'changed\n' });
    expect(textOf(await succeed(client, 'read_file', { sandbox_id: 'mcp-py', path: '/root/result.txt' }))).toBe('changed\n');
    const listed = await succeed(client, 'list_snapshots', { sandbox_id: 'mcp-py' });
    expect(textOf(listed)).toMatch(/^\* before /m);
    const restored = await succeed(client, 'restore_snapshot', { sandbox_id: 'mcp-py', snapshot: 'before' });
    expect(restored.structuredContent).toMatchObject({ name: 'mcp-py', state: 'running' });
    expect(textOf(await succeed(client, 'read_file', { sandbox_id: 'mcp-py', path: '/root/result.txt' }))).toBe('written by python\n');

    const tree = await client.readResource({ uri: 'microvm://sandboxes/mcp-py/snapshots' });
    expect(JSON.parse((tree.contents[0] as { text: string }).text)).toMatchObject({ snapshots: [{ name: 'before' }] });
    const templates = await client.listResources();
    expect(templates.resources.map((r) => r.uri)).toEqual(expect.arrayContaining(['microvm://sandboxes', 'microvm://sandboxes/mcp-py/snapshots']));

    await succeed(client, 'destroy_sandbox', { sandbox_id: 'mcp-py' });
    const after = await succeed(client, 'list_sandboxes', {});
    expect(after.structuredContent).toEqual({ sandboxes: [] });
    const resource = await client.readResource({ uri: 'microvm://sandboxes' });
    expect(JSON.parse((resource.contents[0] as { text: string }).text)).toEqual([]);
  });

  it('answers malformed arguments, unknown sandboxes, timeouts and a sandbox destroyed mid-call with isError, and keeps serving', async () => {
    const malformed = await call(client, 'run_command', { sandbox_id: 'x', command: 42 });
    expect(malformed.isError).toBe(true);
    expect(textOf(malformed)).toMatch(/command/);
    const missing = await call(client, 'run_command', { sandbox_id: 'no-such-sandbox', command: 'true' });
    expect(missing.isError).toBe(true);
    expect(textOf(missing)).toMatch(/^\[not_found\] .*no-such-sandbox/);
    const badPath = await call(client, 'read_file', { sandbox_id: 'x', path: 'relative/path' });
    expect(textOf(badPath)).toMatch(/path/);

    await succeed(client, 'create_sandbox', { name: 'mcp-err', template: 'minimal', memory_mib: 256 });
    const slow = await call(client, 'run_command', { sandbox_id: 'mcp-err', command: 'echo started; sleep 30', timeout_seconds: 1 });
    expect(slow.isError).toBe(true);
    expect(textOf(slow)).toMatch(/^timed out after 1 s/);
    expect(slow.structuredContent).toMatchObject({ timed_out: true, stdout: 'started\n' });
    const failed = await call(client, 'run_command', { sandbox_id: 'mcp-err', command: 'echo oops >&2; exit 3' });
    expect(failed.isError).toBe(true);
    expect(textOf(failed)).toBe('exit code 3\n--- stderr ---\noops\n');

    // A cancelled call ends its guest process rather than leaving it to its timeout.
    const sandbox = await Sandbox.connect('mcp-err', { socketPath: daemon.socketPath });
    const sleeping = async () => (await sandbox.exec(['ps', '-o', 'args'])).stdout.split('\n').filter((line) => line.includes('sleep 77')).length;
    const cancel = new AbortController();
    const cancelled = client.callTool({ name: 'run_command', arguments: { sandbox_id: 'mcp-err', command: 'sleep 77' } }, undefined, { signal: cancel.signal });
    await expect.poll(sleeping, { timeout: 10_000 }).toBeGreaterThan(0);
    cancel.abort();
    await expect(cancelled).rejects.toThrow();
    await expect.poll(sleeping, { timeout: 10_000 }).toBe(0);

    // The sandbox goes away while a command runs in it: the call ends with an error.
    const pending = call(client, 'run_command', { sandbox_id: 'mcp-err', command: 'sleep 120' });
    await new Promise((resolve) => setTimeout(resolve, 1500));
    await sandbox.destroy();
    const gone = await pending;
    expect(gone.isError).toBe(true);
    expect(textOf(gone)).toMatch(/^\[\w+\] /);

    const next = await succeed(client, 'list_sandboxes', {});
    expect(next.structuredContent).toEqual({ sandboxes: [] });
    const noDisplay = await call(client, 'screenshot', { sandbox_id: 'no-such-sandbox' });
    expect(noDisplay.isError).toBe(true);
  });
});

describe('the daemon\'s /mcp over Streamable HTTP', () => {
  const endpoint = () => new URL(`${daemon.url}/mcp`);

  it('serves the same tools with the token and refuses without it', async () => {
    const client = new Client({ name: 'microvm-http-test', version: '1.0.0' });
    await client.connect(new StreamableHTTPClientTransport(endpoint(), { requestInit: { headers: { authorization: `Bearer ${daemon.token}` } } }));
    try {
      expect((await client.listTools()).tools.map((t) => t.name).sort()).toEqual([...EXPECTED_TOOLS].sort());
      const progress: string[] = [];
      const created = await call(client, 'create_sandbox', { name: 'mcp-http', template: 'minimal', memory_mib: 256 }, (m) => progress.push(m));
      expect(created.isError, textOf(created)).toBeFalsy();
      expect(progress.length).toBeGreaterThan(0);
      const ran = await succeed(client, 'run_command', { sandbox_id: 'mcp-http', command: 'echo over-http; uname -n' });
      expect(textOf(ran)).toBe('exit code 0\n--- stdout ---\nover-http\nmcp-http\n');
      const noDisplay = await call(client, 'get_display_url', { sandbox_id: 'mcp-http' });
      expect(noDisplay.isError).toBe(true);
      expect(textOf(noDisplay)).toMatch(/^\[no_display\] /);
      await succeed(client, 'destroy_sandbox', { sandbox_id: 'mcp-http' });
    } finally {
      await client.close();
    }

    const anonymous = new Client({ name: 'anonymous', version: '1.0.0' });
    await expect(anonymous.connect(new StreamableHTTPClientTransport(endpoint()))).rejects.toThrow(/401/);
    const wrong = new Client({ name: 'wrong-token', version: '1.0.0' });
    await expect(wrong.connect(new StreamableHTTPClientTransport(endpoint(), { requestInit: { headers: { authorization: 'Bearer nope' } } }))).rejects.toThrow(/401/);
    const get = await fetch(endpoint(), { headers: { authorization: `Bearer ${daemon.token}`, accept: 'text/event-stream' } });
    expect(get.status).toBe(405);
  });
});

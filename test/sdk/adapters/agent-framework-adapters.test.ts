import { ToolMessage } from '@langchain/core/messages';
import { ToolInputParsingException, type DynamicStructuredTool } from '@langchain/core/tools';
import { convertToOpenAITool } from '@langchain/core/utils/function_calling';
import { asSchema } from 'ai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { aiSdkTools, type AiSdkSandboxTool } from '../../../src/sdk/adapters/ai-sdk-tools.js';
import { langchainTools } from '../../../src/sdk/adapters/langchain-tools.js';
import { MicrovmError, Sandbox } from '../../../src/sdk/index.js';
import { SANDBOX_TOOLS, type ToolOutput } from '../../../src/sdk/tools/sandbox-tool-set.js';
import { startTestDaemon, type TestDaemon } from '../../support/daemon-harness.js';
import { decodePng } from '../../support/png-pixels.js';

/**
 * The LangChain and Vercel AI SDK adapters against a real ai-agent sandbox, called the way
 * each framework calls a tool (no model involved): LangChain's `invoke` with a tool call
 * or bare arguments, the AI SDK's `execute` and then `toModelOutput`.
 */

let daemon: TestDaemon;
let sandbox: Sandbox;

beforeAll(async () => {
  daemon = await startTestDaemon();
  sandbox = await Sandbox.create({ socketPath: daemon.socketPath, template: 'ai-agent' });
});

afterAll(async () => {
  await sandbox?.[Symbol.asyncDispose]();
  if (daemon) expect(await daemon.stop()).toEqual([]);
});

/** A 4×3 red PNG written with the standard library only (the image has no matplotlib). */
const PNG_PROGRAM = String.raw`
import struct, zlib
def chunk(kind, data):
    return struct.pack('>I', len(data)) + kind + data + struct.pack('>I', zlib.crc32(kind + data) & 0xffffffff)
width, height = 4, 3
rows = b''.join(b'\x00' + b'\xff\x00\x00' * width for _ in range(height))
png = b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', struct.pack('>IIBBBBB', width, height, 8, 2, 0, 0, 0)) + chunk(b'IDAT', zlib.compress(rows)) + chunk(b'IEND', b'')
open('plot.png', 'wb').write(png)
print('saved the plot')
`;

const BINARY = Buffer.from([0, 1, 2, 255, 254, 0, 10, 13]);

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => {
      throw new Error('expected a rejection');
    },
    (error: unknown) => error,
  );
}

describe('LangChain tools', () => {
  let tools: DynamicStructuredTool[];
  const named = (name: string) => tools.find((t) => t.name === name)!;
  const call = (name: string, args: Record<string, unknown>, id = `call_${name}`) => named(name).invoke({ type: 'tool_call', id, name, args }) as Promise<ToolMessage>;

  beforeAll(() => {
    tools = langchainTools(sandbox);
  });

  it('offers every sandbox tool, with a schema a model can be given', () => {
    expect(tools.map((t) => t.name)).toEqual(SANDBOX_TOOLS.map((t) => t.name));
    for (const [i, definition] of SANDBOX_TOOLS.entries()) expect(tools[i]!.description).toBe(definition.description);
    const openai = convertToOpenAITool(named('run_command'));
    expect(openai.function.parameters).toMatchObject({ type: 'object', required: ['command'], properties: { command: { type: 'string' }, timeout_seconds: { type: 'integer' } } });
  });

  it('run_command: the exit code and output; a failing command is an error ToolMessage the model still reads', async () => {
    expect(await named('run_command').invoke({ command: 'echo hello; echo note >&2' })).toBe('exit code 0\n--- stdout ---\nhello\n\n--- stderr ---\nnote\n');
    const failed = await call('run_command', { command: 'echo failing; exit 3' }, 'call_1');
    expect(failed).toBeInstanceOf(ToolMessage);
    expect(failed).toMatchObject({ tool_call_id: 'call_1', name: 'run_command', status: 'error', content: 'exit code 3\n--- stdout ---\nfailing\n' });
    expect((failed.artifact as ToolOutput).data).toMatchObject({ exit_code: 3, stdout: 'failing\n', timed_out: false });
    const passed = await call('run_command', { command: 'true' });
    expect(passed).toMatchObject({ status: 'success', content: 'exit code 0' });
  });

  it('streams a long command\'s output to LangGraph\'s writer', async () => {
    const chunks: unknown[] = [];
    // LangGraph's config type adds `writer` to LangChain's.
    const config = { runName: 'with-writer', writer: (chunk: unknown) => chunks.push(chunk) };
    await named('run_command').invoke({ command: 'echo progress' }, config);
    expect(chunks).toContainEqual({ tool: 'run_command', progress: 'stdout: progress\n' });
  });

  it('execute_code: python that prints and saves a PNG; the image comes back as an image block', async () => {
    const message = await call('execute_code', { language: 'python', code: PNG_PROGRAM });
    expect(message.status).toBe('success');
    const [text, image, ...rest] = message.content as { type: string; text?: string; mimeType?: string; data?: string }[];
    expect(rest).toEqual([]);
    expect(text!.type).toBe('text');
    expect(text!.text).toMatch(/^working directory: \/tmp\/microvm-code\/[0-9a-f]+\nexit code 0\n--- stdout ---\nsaved the plot\n\nimages saved: \/tmp\/microvm-code\/[0-9a-f]+\/plot\.png$/);
    expect(image).toMatchObject({ type: 'image', mimeType: 'image/png' });
    expect(decodePng(Buffer.from(image!.data!, 'base64'))).toMatchObject({ width: 4, height: 3 });
    expect((message.artifact as ToolOutput).images[0]!.path).toMatch(/\/plot\.png$/);

    // For models whose tool results are text only, the images stay in the artifact.
    const textOnly = langchainTools(sandbox, { images: 'artifact' }).find((t) => t.name === 'execute_code')!;
    const plain = (await textOnly.invoke({ type: 'tool_call', id: 'call_2', name: 'execute_code', args: { language: 'python', code: PNG_PROGRAM } })) as ToolMessage;
    expect(plain.content).toMatch(/images saved: .*plot\.png$/);
    expect((plain.artifact as ToolOutput).images).toHaveLength(1);
  });

  it('write_file then read_file, as text and as base64; list_files', async () => {
    expect((await call('write_file', { path: '/root/lc/notes.txt', content: 'hello from langchain\n' })).content).toMatch(/^wrote 21 bytes to \/root\/lc\/notes\.txt \(sha256 [0-9a-f]{64}\)$/);
    expect((await call('read_file', { path: '/root/lc/notes.txt' })).content).toBe('hello from langchain\n');
    await call('write_file', { path: '/root/lc/blob.bin', content: BINARY.toString('base64'), encoding: 'base64' });
    const binary = await call('read_file', { path: '/root/lc/blob.bin' });
    expect(binary.content).toBe(`/root/lc/blob.bin: 8 bytes, base64:\n${BINARY.toString('base64')}`);
    expect((binary.artifact as ToolOutput).data).toMatchObject({ encoding: 'base64', size: 8 });
    const listing = await call('list_files', { path: '/root/lc' });
    expect(listing.content).toMatch(/^\/root\/lc:\n/);
    expect(listing.content).toMatch(/^- +8 \S+ blob\.bin$/m);
    expect(listing.content).toMatch(/^- +21 \S+ notes\.txt$/m);
  });

  it('throws what the daemon refuses (ToolNode makes it an error message) and arguments that fail the schema', async () => {
    const missing = await rejection(call('read_file', { path: '/root/lc/nothing-here' }));
    expect(missing).toBeInstanceOf(MicrovmError);
    expect((missing as MicrovmError).code).toBe('not_found');
    const relative = await rejection(call('read_file', { path: 'notes.txt' }));
    expect(relative).toBeInstanceOf(ToolInputParsingException);
  });
});

describe('Vercel AI SDK tools', () => {
  let tools: Record<string, AiSdkSandboxTool>;
  const options = (name: string) => ({ toolCallId: `call_${name}`, messages: [] });
  const execute = async (name: string, input: Record<string, unknown>) => {
    const output = (await tools[name]!.execute!(input, options(name))) as ToolOutput;
    return { output, model: await tools[name]!.toModelOutput!({ toolCallId: `call_${name}`, input, output }) };
  };

  beforeAll(() => {
    tools = aiSdkTools(sandbox);
  });

  it('offers every sandbox tool by name, with a JSON schema a model can be given', async () => {
    expect(Object.keys(tools)).toEqual(SANDBOX_TOOLS.map((t) => t.name));
    expect(tools.write_file!.description).toBe(SANDBOX_TOOLS.find((t) => t.name === 'write_file')!.description);
    expect(await asSchema(tools.write_file!.inputSchema).jsonSchema).toMatchObject({
      type: 'object',
      required: ['path', 'content'],
      properties: { encoding: { enum: ['utf8', 'base64'] } },
    });
  });

  it('run_command: the exit code and output; a failing command is an error result with its output', async () => {
    const passed = await execute('run_command', { command: 'echo hello' });
    expect(passed.output).toMatchObject({ text: 'exit code 0\n--- stdout ---\nhello\n', data: { exit_code: 0 }, isError: false });
    expect(passed.model).toEqual({ type: 'text', value: 'exit code 0\n--- stdout ---\nhello\n' });
    const failed = await execute('run_command', { command: 'echo failing >&2; exit 2' });
    expect(failed.output).toMatchObject({ data: { exit_code: 2 }, isError: true });
    expect(failed.model).toEqual({ type: 'error-text', value: 'exit code 2\n--- stderr ---\nfailing\n' });
  });

  it('execute_code: python that prints and saves a PNG; the image goes to the model as an image part', async () => {
    const { output, model } = await execute('execute_code', { language: 'python', code: PNG_PROGRAM });
    expect(output.images).toHaveLength(1);
    expect(model.type).toBe('content');
    const [text, image, ...rest] = (model as { value: { type: string; text?: string; data?: string; mediaType?: string }[] }).value;
    expect(rest).toEqual([]);
    expect(text).toMatchObject({ type: 'text', text: expect.stringContaining('saved the plot') });
    expect(image).toMatchObject({ type: 'image-data', mediaType: 'image/png' });
    expect(decodePng(Buffer.from(image!.data!, 'base64'))).toMatchObject({ width: 4, height: 3 });
  });

  it('write_file then read_file, as text and as base64; list_files', async () => {
    await execute('write_file', { path: '/root/ai/notes.txt', content: 'hello from the ai sdk\n' });
    expect((await execute('read_file', { path: '/root/ai/notes.txt' })).model).toEqual({ type: 'text', value: 'hello from the ai sdk\n' });
    await execute('write_file', { path: '/root/ai/blob.bin', content: BINARY.toString('base64'), encoding: 'base64' });
    const binary = await execute('read_file', { path: '/root/ai/blob.bin', encoding: 'base64' });
    expect(Buffer.from(binary.output.data.content as string, 'base64').equals(BINARY)).toBe(true);
    expect(binary.model).toEqual({ type: 'text', value: `/root/ai/blob.bin: 8 bytes, base64:\n${BINARY.toString('base64')}` });
    const listing = await execute('list_files', { path: '/root/ai' });
    expect((listing.output.data.entries as { name: string }[]).map((e) => e.name).sort()).toEqual(['blob.bin', 'notes.txt']);
  });

  it('throws what the daemon refuses (the AI SDK reports it to the model as a tool error)', async () => {
    const error = await rejection(execute('list_files', { path: '/root/ai/nothing-here' }));
    expect(error).toBeInstanceOf(MicrovmError);
    expect((error as MicrovmError).code).toBe('not_found');
  });
});

import { randomBytes } from 'node:crypto';
import { extname } from 'node:path';
import { z } from 'zod';
import type { ExecOutput, SpawnOptions } from '../exec-handle.js';
import { MicrovmError } from '../microvm-error.js';
import type { Sandbox } from '../sandbox.js';

/**
 * The tools an agent uses inside one sandbox (commands, code, files), written once: the
 * MCP server adds a `sandbox_id` argument to each, and the LangChain and Vercel AI SDK
 * adapters bind them to a Sandbox. Names, descriptions and schemas are what an LLM reads.
 */

/** An image a tool returns (a plot the code saved, a screenshot), base64. */
export interface ToolImage {
  data: string;
  mimeType: string;
  /** Where it was found in the guest, when it is a file. */
  path?: string;
}

export interface ToolOutput {
  /** What a model reads. */
  text: string;
  /** The same as structured data, for programs. */
  data: Record<string, unknown>;
  images: ToolImage[];
  /** The call worked but its outcome is a failure the model should see as one (non-zero exit, timeout). */
  isError?: boolean;
}

export interface ToolContext {
  signal?: AbortSignal;
  /** Reports headway of a long call (output so far, a stage). */
  progress?: (message: string) => void;
}

export interface SandboxTool<Shape extends z.ZodRawShape = z.ZodRawShape> {
  name: string;
  title: string;
  description: string;
  input: Shape;
  run(sandbox: Sandbox, args: z.infer<z.ZodObject<Shape>>, context?: ToolContext): Promise<ToolOutput>;
}

/** Output kept per stream in a result: the daemon caps it too (and says so). */
const MAX_OUTPUT_CHARS = 64 * 1024;
/** read_file's default and ceiling. */
const READ_DEFAULT_BYTES = 1024 * 1024;
const READ_MAX_BYTES = 16 * 1024 * 1024;
const IMAGE_TYPES: Record<string, string> = { '.png': 'image/png', '.jpg': 'image/jpeg', '.jpeg': 'image/jpeg', '.gif': 'image/gif', '.webp': 'image/webp' };
const MAX_IMAGES = 8;
const MAX_IMAGE_BYTES = 5 * 1024 * 1024;

const guestPath = z.string().min(1).max(4096).regex(/^\//, 'must be an absolute path inside the sandbox (starting with /)');
const timeoutSeconds = z
  .number()
  .int()
  .min(1)
  .max(3600)
  .optional()
  .describe('Give up after this many seconds (default 120); the process is killed and the result says it timed out.');

const define = <Shape extends z.ZodRawShape>(tool: SandboxTool<Shape>): SandboxTool<Shape> => tool;

export const runCommandTool = define({
  name: 'run_command',
  title: 'Run a shell command',
  description:
    'Runs a shell command (/bin/sh -c) inside the sandbox as root and waits for it to finish. Returns the exit code, stdout and stderr; ' +
    'long output is cut and marked as truncated. A non-zero exit code is reported as an error result with the output.',
  input: {
    command: z.string().min(1).max(100_000).describe('The shell command line, e.g. "ls -la /tmp && python3 --version".'),
    cwd: guestPath.optional().describe('Working directory (absolute path); default /root.'),
    env: z.record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/), z.string()).optional().describe('Extra environment variables.'),
    timeout_seconds: timeoutSeconds,
  },
  async run(sandbox, args, context) {
    const output = await execCancellable(
      sandbox,
      args.command,
      {
        ...(args.cwd ? { cwd: args.cwd } : {}),
        ...(args.env ? { env: args.env } : {}),
        timeoutMs: (args.timeout_seconds ?? 120) * 1000,
        ...streamProgress(context),
      },
      context?.signal,
    );
    return commandResult(output, args.timeout_seconds ?? 120);
  },
});

const LANGUAGES = {
  python: { file: 'main.py', argv: ['python3', 'main.py'] },
  javascript: { file: 'main.js', argv: ['node', 'main.js'] },
  bash: { file: 'main.sh', argv: ['bash', 'main.sh'] },
} as const;

export const executeCodeTool = define({
  name: 'execute_code',
  title: 'Execute code',
  description:
    'Writes a program to a file in a fresh working directory inside the sandbox and runs it: python (python3), javascript (node) or bash. ' +
    'Returns stdout, stderr and the exit code. Images the program saves in its working directory (PNG, JPEG, GIF, WebP; e.g. a matplotlib plot ' +
    'saved with plt.savefig("plot.png")) are returned as images. The working directory is reported so later calls can use files left there.',
  input: {
    language: z.enum(['python', 'javascript', 'bash']).describe('The language of `code`.'),
    code: z.string().min(1).max(1_000_000).describe('The whole program.'),
    timeout_seconds: timeoutSeconds,
  },
  async run(sandbox, args, context) {
    const language = LANGUAGES[args.language];
    const dir = `/tmp/microvm-code/${randomBytes(6).toString('hex')}`;
    await sandbox.files.write(`${dir}/${language.file}`, args.code, { mkdirs: true });
    context?.progress?.(`running ${language.file} in ${dir}`);
    const output = await execCancellable(
      sandbox,
      [...language.argv],
      {
        cwd: dir,
        // Plots render to files: no display is needed or wanted.
        env: { MPLBACKEND: 'Agg', PYTHONUNBUFFERED: '1' },
        timeoutMs: (args.timeout_seconds ?? 120) * 1000,
        ...streamProgress(context),
      },
      context?.signal,
    );
    const result = commandResult(output, args.timeout_seconds ?? 120);
    const images = await savedImages(sandbox, dir);
    const listed = images.length ? `\nimages saved: ${images.map((i) => i.path).join(', ')}` : '';
    return { ...result, text: `working directory: ${dir}\n${result.text}${listed}`, data: { ...result.data, working_directory: dir, images: images.map((i) => i.path) }, images };
  },
});

export const writeFileTool = define({
  name: 'write_file',
  title: 'Write a file',
  description:
    'Writes a whole file inside the sandbox (created or replaced atomically; missing parent directories are created). ' +
    'Text is written as UTF-8; for binary content pass base64 and encoding "base64".',
  input: {
    path: guestPath.describe('Absolute path of the file, e.g. /root/app/main.py.'),
    content: z.string().max(50_000_000).describe('The file content: text, or base64 when encoding is "base64".'),
    encoding: z.enum(['utf8', 'base64']).optional().describe('How `content` is encoded (default utf8).'),
  },
  async run(sandbox, args) {
    const bytes = args.encoding === 'base64' ? decodeBase64(args.content) : Buffer.from(args.content, 'utf8');
    const written = await sandbox.files.write(args.path, bytes, { mkdirs: true });
    return { text: `wrote ${written.size} bytes to ${written.path} (sha256 ${written.sha256})`, data: { ...written }, images: [] };
  },
});

export const readFileTool = define({
  name: 'read_file',
  title: 'Read a file',
  description:
    'Reads a file inside the sandbox. Text files come back as text; binary files (or encoding "base64") as base64, ' +
    'and images also as an image. Files larger than max_bytes (default 1 MiB) are refused: read a part with run_command (head, tail, sed).',
  input: {
    path: guestPath.describe('Absolute path of the file.'),
    encoding: z.enum(['auto', 'utf8', 'base64']).optional().describe('auto (default): text when the bytes are UTF-8 text, base64 otherwise.'),
    max_bytes: z.number().int().min(1).max(READ_MAX_BYTES).optional().describe(`Largest file to return (default ${READ_DEFAULT_BYTES}).`),
  },
  async run(sandbox, args) {
    const limit = args.max_bytes ?? READ_DEFAULT_BYTES;
    const info = await sandbox.files.stat(args.path);
    if (info.type === 'dir') throw new MicrovmError('invalid_argument', `path: ${args.path} is a directory; use list_files`);
    if (info.size > limit) throw new MicrovmError('invalid_argument', `path: ${args.path} is ${info.size} bytes, more than max_bytes (${limit}); read a part with run_command, e.g. head -c`);
    const bytes = await sandbox.files.read(args.path, { format: 'bytes' });
    const asText = args.encoding === 'utf8' || (args.encoding !== 'base64' && isText(bytes));
    const mimeType = IMAGE_TYPES[extname(args.path).toLowerCase()];
    const images = mimeType && !asText ? [{ data: bytes.toString('base64'), mimeType, path: args.path }] : [];
    if (asText) return { text: bytes.toString('utf8'), data: { path: args.path, size: bytes.length, encoding: 'utf8', content: bytes.toString('utf8') }, images };
    const content = bytes.toString('base64');
    return { text: `${args.path}: ${bytes.length} bytes, base64:\n${content}`, data: { path: args.path, size: bytes.length, encoding: 'base64', content }, images };
  },
});

export const listFilesTool = define({
  name: 'list_files',
  title: 'List a directory',
  description: 'Lists a directory inside the sandbox: each entry with its type (file, dir, symlink), size in bytes and modification time.',
  input: { path: guestPath.describe('Absolute path of the directory, e.g. /root.') },
  async run(sandbox, args) {
    const entries = await sandbox.files.list(args.path);
    const lines = entries.map((e) => `${e.type === 'dir' ? 'd' : e.type === 'symlink' ? 'l' : '-'} ${String(e.size).padStart(10)} ${e.mtime} ${e.name}${e.linkTarget ? ` -> ${e.linkTarget}` : ''}`);
    return { text: lines.length ? `${args.path}:\n${lines.join('\n')}` : `${args.path} is empty`, data: { path: args.path, entries }, images: [] };
  },
});

/** Every tool that works inside one sandbox, in the order they are offered. */
export const SANDBOX_TOOLS: readonly SandboxTool[] = [runCommandTool, executeCodeTool, writeFileTool, readFileTool, listFilesTool];

/**
 * exec(), but a caller that gives up (an MCP cancellation, an aborted agent run) kills
 * the guest process instead of leaving it to its timeout.
 */
async function execCancellable(sandbox: Sandbox, command: string | string[], options: Omit<SpawnOptions, 'stdin'>, signal: AbortSignal | undefined): Promise<ExecOutput> {
  if (!signal) return sandbox.exec(command, options);
  signal.throwIfAborted();
  const handle = await sandbox.spawn(command, options);
  handle.stdout.resume();
  handle.stderr.resume();
  const kill = () => handle.kill();
  signal.addEventListener('abort', kill, { once: true });
  try {
    return await handle.wait();
  } finally {
    signal.removeEventListener('abort', kill);
  }
}

function streamProgress(context: ToolContext | undefined): { onStdout?: (text: string) => void; onStderr?: (text: string) => void } {
  const progress = context?.progress;
  if (!progress) return {};
  const report = (stream: string) => (text: string) => progress(`${stream}: ${text.length > 200 ? `${text.slice(0, 200)}…` : text}`);
  return { onStdout: report('stdout'), onStderr: report('stderr') };
}

function cut(text: string, truncatedByDaemon: boolean): { text: string; truncated: boolean } {
  if (text.length <= MAX_OUTPUT_CHARS) return { text, truncated: truncatedByDaemon };
  return { text: text.slice(0, MAX_OUTPUT_CHARS), truncated: true };
}

/** An exec's outcome as a result; a timeout or a non-zero exit is an error result (the output is still there). */
export function commandResult(output: ExecOutput, timeoutSeconds: number): ToolOutput {
  const stdout = cut(output.stdout, output.stdoutTruncated);
  const stderr = cut(output.stderr, output.stderrTruncated);
  const outcome = output.timedOut
    ? `timed out after ${timeoutSeconds} s (the process was killed)`
    : output.exitCode === null
      ? `killed by signal ${output.signal ?? 'unknown'}`
      : `exit code ${output.exitCode}`;
  const section = (name: string, part: { text: string; truncated: boolean }) =>
    part.text || part.truncated ? `\n--- ${name} ---\n${part.text}${part.truncated ? `\n[${name} truncated]` : ''}` : '';
  return {
    text: `${outcome}${section('stdout', stdout)}${section('stderr', stderr)}`,
    data: {
      exit_code: output.exitCode,
      signal: output.signal,
      timed_out: output.timedOut,
      duration_ms: output.durationMs,
      stdout: stdout.text,
      stderr: stderr.text,
      stdout_truncated: stdout.truncated,
      stderr_truncated: stderr.truncated,
    },
    images: [],
    isError: output.timedOut || output.exitCode !== 0,
  };
}

async function savedImages(sandbox: Sandbox, dir: string): Promise<ToolImage[]> {
  const entries = await sandbox.files.list(dir);
  const found = entries.filter((e) => e.type === 'file' && IMAGE_TYPES[extname(e.name).toLowerCase()] && e.size > 0 && e.size <= MAX_IMAGE_BYTES).slice(0, MAX_IMAGES);
  const images: ToolImage[] = [];
  for (const entry of found) {
    const bytes = await sandbox.files.read(entry.path, { format: 'bytes' });
    images.push({ data: bytes.toString('base64'), mimeType: IMAGE_TYPES[extname(entry.name).toLowerCase()]!, path: entry.path });
  }
  return images;
}

function decodeBase64(content: string): Buffer {
  const compact = content.replace(/\s+/g, '');
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(compact) || compact.length % 4 === 1) throw new MicrovmError('invalid_argument', 'content: not valid base64 (encoding is "base64")');
  return Buffer.from(compact, 'base64');
}

/** UTF-8 that round-trips and holds no NUL: what a model can read as text. */
function isText(bytes: Buffer): boolean {
  if (bytes.includes(0)) return false;
  return Buffer.from(bytes.toString('utf8'), 'utf8').equals(bytes);
}

import { createReadStream, createWriteStream } from 'node:fs';
import { chmod, stat } from 'node:fs/promises';
import { basename, join, posix } from 'node:path';
import { Transform } from 'node:stream';
import { finished, pipeline } from 'node:stream/promises';
import type { Command } from 'commander';
import { MicrovmError, Sandbox } from '../../../sdk/index.js';
import { UsageError } from '../cli-failure.js';
import { daemonClient } from '../daemon-autostart.js';
import { transferProgress, type TransferProgress } from '../progress-printer.js';

/** Copies smaller than this finish before a bar would be worth drawing. */
const PROGRESS_MIN_BYTES = 1024 * 1024;

interface GuestPath {
  sandbox: string;
  path: string;
}

/**
 * `ID:/path` names a guest file; anything else is a host path (write `./a:b` for a host
 * file whose name has a colon). The part before the colon never contains a slash.
 */
export function parseCopyOperand(operand: string): GuestPath | null {
  const match = /^([^/:]+):(.*)$/.exec(operand);
  if (!match) return null;
  const [, sandbox = '', path = ''] = match;
  if (!path.startsWith('/')) throw new UsageError(`"${operand}": the guest path must be absolute (${sandbox}:/path/in/guest)`);
  return { sandbox, path };
}

function counting(onBytes: (total: number) => void): Transform {
  let total = 0;
  return new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      total += chunk.length;
      onBytes(total);
      callback(null, chunk);
    },
  });
}

async function tracked(progress: TransferProgress | null, copy: () => Promise<unknown>): Promise<void> {
  try {
    await copy();
  } catch (error) {
    progress?.abandon();
    throw error;
  }
  progress?.done();
}

async function guestIsDirectory(sandbox: Sandbox, path: string): Promise<boolean> {
  try {
    return (await sandbox.files.stat(path)).type === 'dir';
  } catch (error) {
    if (error instanceof MicrovmError && error.code === 'not_found') return false;
    throw error;
  }
}

async function upload(source: string, target: GuestPath): Promise<void> {
  const sandbox = await Sandbox.connect(target.sandbox);
  if (source === '-') {
    if (target.path.endsWith('/')) throw new UsageError('with - as the source, the destination must name a file, not a directory');
    await sandbox.files.write(target.path, process.stdin);
    return;
  }
  const info = await stat(source);
  if (info.isDirectory()) throw new UsageError(`${source} is a directory; cp copies single files`);
  const destination = target.path.endsWith('/') || (await guestIsDirectory(sandbox, target.path)) ? posix.join(target.path, basename(source)) : target.path;
  const progress = info.size >= PROGRESS_MIN_BYTES ? transferProgress(`→ ${target.sandbox}:${destination}`, info.size) : null;
  await tracked(progress, () =>
    sandbox.files.write(destination, createReadStream(source), { mode: info.mode & 0o7777, ...(progress ? { onProgress: (sent: number) => progress.update(sent) } : {}) }),
  );
}

async function download(source: GuestPath, target: string): Promise<void> {
  const sandbox = await Sandbox.connect(source.sandbox);
  const info = await sandbox.files.stat(source.path);
  if (info.type === 'dir') throw new UsageError(`${source.sandbox}:${source.path} is a directory; cp copies single files`);
  const content = await sandbox.files.read(source.path, { format: 'stream' });
  if (target === '-') {
    // stdout stays open for whatever the shell does next, so it is piped to, not ended.
    content.pipe(process.stdout, { end: false });
    await finished(content);
    return;
  }
  const existing = await stat(target).catch(() => null);
  const destination = target.endsWith('/') || existing?.isDirectory() ? join(target, posix.basename(source.path)) : target;
  const progress = info.size >= PROGRESS_MIN_BYTES ? transferProgress(`← ${source.sandbox}:${source.path}`, info.size) : null;
  await tracked(progress, () =>
    progress ? pipeline(content, counting((total) => progress.update(total)), createWriteStream(destination)) : pipeline(content, createWriteStream(destination)),
  );
  await chmod(destination, info.mode & 0o7777);
}

/** `microvm cp`: one file between the host and a sandbox, either way, `-` for stdin/stdout. */
export function registerCpCommand(program: Command): void {
  program
    .command('cp')
    .description('copy a file between the host and a sandbox: cp FILE ID:/path, cp ID:/path FILE (- for stdin/stdout)')
    .argument('<source>', 'host file, ID:/guest/file, or - for stdin')
    .argument('<destination>', 'ID:/guest/path, host path, or - for stdout (a directory gets the source file name)')
    .action(async (source: string, destination: string) => {
      const from = source === '-' ? null : parseCopyOperand(source);
      const to = destination === '-' ? null : parseCopyOperand(destination);
      if (from && to) throw new UsageError('both paths are in sandboxes; copy through the host');
      if (!from && !to) throw new UsageError('one of the paths must be in a sandbox (ID:/path)');
      await daemonClient();
      if (to) await upload(source, to);
      else if (from) await download(from, destination);
    });
}

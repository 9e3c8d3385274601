import { spawn } from 'node:child_process';
import { accessSync, constants, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NetHelperError } from './helper-arguments.js';

/**
 * ip and nft, run with argument arrays. They are looked up in the system directories only:
 * the helper runs as root, and a PATH from the caller (or pkexec's) must not choose them.
 */
const SYSTEM_DIRS = ['/usr/sbin', '/sbin', '/usr/bin', '/bin'];
const PACKAGES = { ip: 'iproute2', nft: 'nftables' } as const;
type Tool = keyof typeof PACKAGES;

function toolPath(tool: Tool): string {
  for (const dir of SYSTEM_DIRS) {
    const path = `${dir}/${tool}`;
    try {
      accessSync(path, constants.X_OK);
      return path;
    } catch {
      // not in this directory
    }
  }
  throw new NetHelperError('missing_tool', `${tool} was not found in ${SYSTEM_DIRS.join(', ')}: install Debian's ${PACKAGES[tool]} package`);
}

interface Run {
  status: number;
  stdout: string;
  stderr: string;
}

function run(tool: Tool, args: readonly string[]): Promise<Run> {
  const file = toolPath(tool);
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { env: { LC_ALL: 'C', PATH: SYSTEM_DIRS.join(':') }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.on('error', (error) => reject(new NetHelperError('failed', `${tool} could not be started: ${error.message}`)));
    child.on('close', (status) => resolve({ status: status ?? 1, stdout, stderr }));
  });
}

function failure(tool: Tool, args: readonly string[], result: Run): NetHelperError {
  const why = result.stderr.trim().split('\n').filter(Boolean).join(' / ') || `exit status ${result.status}`;
  return new NetHelperError('failed', `${tool} ${args.join(' ')} failed: ${why}`);
}

export async function ip(args: readonly string[]): Promise<void> {
  const result = await run('ip', args);
  if (result.status !== 0) throw failure('ip', args, result);
}

export async function ipJson<T>(args: readonly string[]): Promise<T> {
  const all = ['-j', ...args];
  const result = await run('ip', all);
  if (result.status !== 0) throw failure('ip', all, result);
  return JSON.parse(result.stdout || '[]') as T;
}

export interface NftListing {
  nftables: Array<Record<string, unknown>>;
}

export async function nftList(args: readonly string[]): Promise<NftListing> {
  const all = ['-j', ...args];
  const result = await run('nft', all);
  if (result.status !== 0) throw failure('nft', all, result);
  return JSON.parse(result.stdout) as NftListing;
}

/**
 * Applies a batch of nft JSON commands as one transaction: all of it, or (on any error)
 * none of it. The batch goes through a file in a fresh private directory: `nft -f -`
 * opens /dev/stdin, which fails on the socket Node gives a child as its stdin.
 */
export async function nftApply(commands: readonly object[]): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'microvm-net-helper-'));
  try {
    const batch = join(dir, 'batch.json');
    writeFileSync(batch, JSON.stringify({ nftables: commands }), { mode: 0o600 });
    const args = ['-j', '-f', batch];
    const result = await run('nft', args);
    if (result.status !== 0) throw failure('nft', ['-j', '-f', '(batch)'], result);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

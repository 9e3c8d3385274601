import { mkdir, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { appPaths, guestAgentSourceDir } from '../paths/app-paths.js';
import { SandboxError } from '../errors/sandbox-error.js';
import { hashTree } from './content-hash.js';
import type { ProgressListener } from './progress.js';

export interface AgentBuildOptions {
  goos?: 'linux' | 'windows';
  goarch?: 'amd64' | 'arm64';
  onProgress?: ProgressListener;
}

export interface AgentBuild {
  path: string;
  /** Hash of the agent's sources: part of every image's cache key. */
  sourceHash: string;
  cached: boolean;
}

/**
 * Builds the static guest agent with the local Go toolchain, cached by a hash of its
 * sources so repeated image builds and test runs reuse one binary.
 */
export async function buildGuestAgent(options: AgentBuildOptions = {}): Promise<AgentBuild> {
  const goos = options.goos ?? 'linux';
  const goarch = options.goarch ?? 'amd64';
  const source = guestAgentSourceDir();
  const sourceHash = await hashTree(source);
  const dir = join(appPaths().cache, 'agent', sourceHash);
  const path = join(dir, `microvm-agent-${goos}-${goarch}${goos === 'windows' ? '.exe' : ''}`);
  if (await exists(path)) return { path, sourceHash, cached: true };

  options.onProgress?.({ step: 'agent', message: `compiling guest agent for ${goos}/${goarch}` });
  await mkdir(dir, { recursive: true });
  const partial = `${path}.partial-${process.pid}`;
  try {
    await execa(
      'go',
      ['build', '-trimpath', '-ldflags', `-s -w -X main.version=0.1.0+${sourceHash}`, '-o', partial, './cmd/microvm-agent'],
      { cwd: source, env: { CGO_ENABLED: '0', GOOS: goos, GOARCH: goarch, GOFLAGS: '-mod=mod' } },
    );
    await rename(partial, path);
  } catch (error) {
    await rm(partial, { force: true });
    throw toBuildError(error);
  }
  return { path, sourceHash, cached: false };
}

function toBuildError(error: unknown): SandboxError {
  const e = error as { code?: string; stderr?: string; message?: string };
  if (e.code === 'ENOENT') {
    return new SandboxError('missing_tool', 'The Go compiler (go) was not found: install Debian\'s golang-go package.');
  }
  return new SandboxError('build_failed', `Building the guest agent failed: ${e.stderr || e.message}`);
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(() => true, () => false);
}

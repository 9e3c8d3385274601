import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { SandboxError } from '../errors/sandbox-error.js';

/**
 * Debian packages as build inputs: resolved to exact versions (so they can key a build
 * cache), fetched with `apt-get download` and unpacked with `dpkg-deb -x`, neither of
 * which needs root.
 */
export interface DebianPackage {
  name: string;
  version: string;
}

export async function resolvePackage(name: string): Promise<DebianPackage> {
  const version = await candidateVersion(name);
  return { name, version };
}

/** Follows a metapackage (e.g. linux-image-cloud-amd64) to the package it depends on. */
export async function resolveMetapackage(name: string, dependencyPrefix: string): Promise<DebianPackage> {
  const { stdout } = await runApt('apt-cache', ['depends', name], name);
  const dep = stdout
    .split('\n')
    .map((line) => /^\s*Depends:\s*(\S+)/.exec(line)?.[1])
    .find((pkg): pkg is string => !!pkg && pkg.startsWith(dependencyPrefix));
  if (!dep) throw new SandboxError('build_failed', `apt-cache found no ${dependencyPrefix}* dependency of ${name}`);
  return resolvePackage(dep);
}

export async function downloadPackage(pkg: DebianPackage, dir: string): Promise<string> {
  await runApt('apt-get', ['download', `${pkg.name}=${pkg.version}`], pkg.name, dir);
  const file = (await readdir(dir)).find((f) => f.startsWith(`${pkg.name}_`) && f.endsWith('.deb'));
  if (!file) throw new SandboxError('build_failed', `apt-get download left no .deb for ${pkg.name}`);
  return join(dir, file);
}

export async function extractPackage(deb: string, into: string): Promise<void> {
  await execa('dpkg-deb', ['-x', deb, into]).catch((error: unknown) => {
    throw new SandboxError('build_failed', `dpkg-deb could not unpack ${deb}: ${(error as Error).message}`);
  });
}

async function candidateVersion(name: string): Promise<string> {
  const { stdout } = await runApt('apt-cache', ['policy', name], name);
  const version = /Candidate:\s*(\S+)/.exec(stdout)?.[1];
  if (!version || version === '(none)') {
    throw new SandboxError(
      'build_failed',
      `Debian package ${name} is not known to apt: run "apt-get update" (as root) and try again`,
    );
  }
  return version;
}

async function runApt(tool: string, args: string[], pkg: string, cwd?: string) {
  try {
    return await execa(tool, args, { cwd, env: { LC_ALL: 'C' } });
  } catch (error) {
    const e = error as { code?: string; stderr?: string; message: string };
    if (e.code === 'ENOENT') throw new SandboxError('missing_tool', `${tool} was not found: images are built from Debian packages`);
    throw new SandboxError('build_failed', `${tool} ${args[0]} failed for ${pkg}: ${e.stderr || e.message}`);
  }
}

/**
 * Which of these package names the host's apt has never heard of: a quick check before
 * a rootfs build, meaningful only when the host's apt lists are the same Debian release.
 */
export async function unknownPackages(names: string[]): Promise<string[]> {
  if (names.length === 0) return [];
  const { stdout } = await runApt('apt-cache', ['policy', ...names], names.join(' '));
  const known = new Set(
    stdout
      .split('\n')
      .map((line) => /^(\S+?)(?::[a-z0-9-]+)?:$/.exec(line)?.[1])
      .filter((name): name is string => !!name),
  );
  return names.filter((name) => !known.has(name));
}

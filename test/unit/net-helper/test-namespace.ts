import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { projectRoot } from '../../../src/main/core/paths/app-paths.js';

/**
 * Network namespaces a test creates, so that everything the helper changes (links, nft
 * tables, ip_forward) happens there and never on the host.
 */
export interface Run {
  status: number;
  stdout: string;
  stderr: string;
}

export function runAsync(argv: readonly string[], env: NodeJS.ProcessEnv = {}): Promise<Run> {
  const [file = '', ...args] = argv;
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (status) => resolve({ status: status ?? 1, stdout, stderr }));
  });
}

export function run(argv: readonly string[], env: NodeJS.ProcessEnv = {}): Run {
  const [file = '', ...args] = argv;
  const result = spawnSync(file, args, { encoding: 'utf8', env: { ...process.env, ...env } });
  if (result.error) throw result.error;
  return { status: result.status ?? 1, stdout: result.stdout, stderr: result.stderr };
}

export function runOk(argv: readonly string[], env: NodeJS.ProcessEnv = {}): string {
  const result = run(argv, env);
  if (result.status !== 0) throw new Error(`${argv.join(' ')} exited ${result.status}: ${result.stderr}`);
  return result.stdout;
}

/**
 * Leaves out what the kernel changes by itself a moment after a change: the bridge's
 * timers, and its carrier, which follows its ports' with a delay.
 */
function linkField(key: string, value: unknown): unknown {
  if (key.endsWith('_timer') || key === 'operstate') return undefined;
  if (key === 'flags' && Array.isArray(value)) return value.filter((flag) => flag !== 'NO-CARRIER' && flag !== 'LOWER_UP');
  return value;
}

export class TestNamespace {
  readonly name = `mvtest-${randomBytes(4).toString('hex')}`;
  private readonly children: ChildProcess[] = [];

  constructor() {
    runOk(['ip', 'netns', 'add', this.name]);
    runOk(['ip', 'netns', 'exec', this.name, 'ip', 'link', 'set', 'lo', 'up']);
  }

  exec(argv: readonly string[], env: NodeJS.ProcessEnv = {}): Run {
    return run(['ip', 'netns', 'exec', this.name, ...argv], env);
  }

  execAsync(argv: readonly string[], env: NodeJS.ProcessEnv = {}): Promise<Run> {
    return runAsync(['ip', 'netns', 'exec', this.name, ...argv], env);
  }

  execOk(argv: readonly string[], env: NodeJS.ProcessEnv = {}): string {
    return runOk(['ip', 'netns', 'exec', this.name, ...argv], env);
  }

  /** A long-running process in the namespace, killed by close(). */
  spawn(argv: readonly string[]): ChildProcess {
    const child = spawn('ip', ['netns', 'exec', this.name, ...argv], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.children.push(child);
    return child;
  }

  /** Links with their details and addresses, the whole nft ruleset, and ip_forward, as the namespace has them now. */
  networkState(): { links: unknown; ruleset: unknown; ipForward: string } {
    return {
      links: JSON.parse(this.execOk(['ip', '-j', '-d', 'addr', 'show']), linkField),
      // Handles number rules in the order they were added: a refilled chain gets new ones.
      ruleset: JSON.parse(this.execOk(['nft', '-j', 'list', 'ruleset']), (key, value: unknown) => (key === 'handle' ? undefined : value)),
      ipForward: this.execOk(['cat', '/proc/sys/net/ipv4/ip_forward']).trim(),
    };
  }

  close(): void {
    for (const child of this.children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    run(['ip', 'netns', 'del', this.name]);
  }
}

/** The helper, bundled the way scripts/install-net-helper.sh installs it (with `#!/usr/bin/node`). */
export function bundleHelper(): { program: string; dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'microvm-net-helper-test-'));
  const program = join(dir, 'microvm-net-helper');
  runOk(['bash', join(projectRoot(), 'scripts', 'install-net-helper.sh'), '--bundle-only', program]);
  return { program, dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

import { spawn, type ChildProcess } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { appPaths } from '../../src/main/core/paths/app-paths.js';
import { processesMentioning } from '../../src/main/core/sandbox/host-resources.js';

export interface TestDaemon {
  /** Throwaway MICROVM_DATA_DIR of this daemon (images are shared with the user's cache). */
  dataDir: string;
  /** Environment for clients (CLI, SDK) to reach this daemon. */
  env: NodeJS.ProcessEnv;
  socketPath: string;
  url: string | null;
  token: string | null;
  process: ChildProcess;
  /** What the daemon wrote to stdout (its pino log) and stderr so far; empty unless started with captureOutput. */
  output(): string;
  /** SIGTERM, wait for exit, kill any VMM left under the data dir, remove the dir. Returns the VMMs it had to kill. */
  stop(): Promise<number[]>;
}

/**
 * Starts a real daemon (test/support/daemon-process.ts → startDaemon) in its own data
 * directory, sharing the already-built images, and waits until it listens.
 */
export interface TestDaemonOptions {
  tcp?: boolean;
  /** Keep the daemon's log (stdout) and stderr for output() instead of dropping / inheriting them. */
  captureOutput?: boolean;
  /** MICROVM_LOG_LEVEL of the daemon (default: the environment's, else warn). */
  logLevel?: string;
  /** Keys merged over the test config (QEMU, minimal template), e.g. { network: { backend: 'user' } }. */
  config?: Record<string, unknown>;
  /** Runs the daemon under this command, e.g. ['ip', 'netns', 'exec', NS] for a network namespace the test created. */
  commandPrefix?: string[];
  /** The data directory of an earlier test daemon that died, to start its successor on the same store. */
  dataDir?: string;
}

export async function startTestDaemon(options: TestDaemonOptions = {}): Promise<TestDaemon> {
  const dataDir = options.dataDir ?? (await mkdtemp(join(tmpdir(), 'microvm-daemon-')));
  // QEMU explicitly: the tests boot real VMs here, where Cloud Hypervisor cannot run.
  await mkdir(join(dataDir, 'config'), { recursive: true });
  await writeFile(join(dataDir, 'config', 'config.json'), JSON.stringify({ hypervisor: 'qemu', defaults: { template: 'minimal' }, ...options.config }));
  // This boot's KVM probe result, so each daemon does not spend up to 10 s probing again.
  await mkdir(join(dataDir, 'run'), { recursive: true, mode: 0o700 });
  await copyFile(join(appPaths().runtime, 'kvm-probe.json'), join(dataDir, 'run', 'kvm-probe.json')).catch(() => undefined);
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    MICROVM_DATA_DIR: dataDir,
    MICROVM_IMAGES_DIR: appPaths().images,
    MICROVM_LOG_LEVEL: options.logLevel ?? process.env.MICROVM_LOG_LEVEL ?? 'warn',
  };
  delete env.MICROVM_SOCKET;
  const [command, ...prefixArgs] = [...(options.commandPrefix ?? []), process.execPath];
  const child = spawn(command!, [...prefixArgs, '--import', 'tsx', join(import.meta.dirname, 'daemon-process.ts')], {
    env: { ...env, ...(options.tcp ? { TEST_DAEMON_TCP_PORT: '0' } : {}) },
    stdio: ['ignore', 'pipe', options.captureOutput ? 'pipe' : 'inherit'],
  });
  const captured: string[] = [];
  child.stderr?.on('data', (chunk: Buffer) => captured.push(chunk.toString()));
  const first = await new Promise<string>((resolve, reject) => {
    const lines = createInterface({ input: child.stdout! });
    let ready = false;
    // The daemon's log shares stdout; the ready line is the one JSON line without a log level.
    lines.on('line', (line) => {
      if (!ready && line.includes('"socketPath"') && !line.includes('"level"')) {
        ready = true;
        resolve(line);
      } else if (options.captureOutput) captured.push(`${line}\n`);
    });
    child.once('exit', (code) => reject(new Error(`test daemon exited with ${code} before listening`)));
  });
  const ready = JSON.parse(first) as { socketPath: string; url: string | null; token: string | null };
  const clientEnv: NodeJS.ProcessEnv = { ...env, MICROVM_SOCKET: ready.socketPath };
  return {
    dataDir,
    env: clientEnv,
    ...ready,
    process: child,
    output: () => captured.join(''),
    async stop() {
      if (child.exitCode === null) {
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGTERM');
        await exited;
      }
      const left = await processesMentioning(`${dataDir}/`);
      for (const pid of left) process.kill(pid, 'SIGKILL');
      await rm(dataDir, { recursive: true, force: true });
      return left;
    },
  };
}

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
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
  /** SIGTERM, wait for exit, kill any VMM left under the data dir, remove the dir. Returns the VMMs it had to kill. */
  stop(): Promise<number[]>;
}

/**
 * Starts a real daemon (test/support/daemon-process.ts → startDaemon) in its own data
 * directory, sharing the already-built images, and waits until it listens.
 */
export async function startTestDaemon(options: { tcp?: boolean } = {}): Promise<TestDaemon> {
  const dataDir = await mkdtemp(join(tmpdir(), 'microvm-daemon-'));
  // QEMU explicitly: the tests boot real VMs here, where Cloud Hypervisor cannot run.
  await mkdir(join(dataDir, 'config'), { recursive: true });
  await writeFile(join(dataDir, 'config', 'config.json'), JSON.stringify({ hypervisor: 'qemu' }));
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    MICROVM_DATA_DIR: dataDir,
    MICROVM_IMAGES_DIR: appPaths().images,
    MICROVM_LOG_LEVEL: process.env.MICROVM_LOG_LEVEL ?? 'warn',
  };
  delete env.MICROVM_SOCKET;
  const child = spawn(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'daemon-process.ts')], {
    env: { ...env, ...(options.tcp ? { TEST_DAEMON_TCP_PORT: '0' } : {}) },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const first = await new Promise<string>((resolve, reject) => {
    const lines = createInterface({ input: child.stdout! });
    lines.once('line', resolve);
    child.once('exit', (code) => reject(new Error(`test daemon exited with ${code} before listening`)));
  });
  const ready = JSON.parse(first) as { socketPath: string; url: string | null; token: string | null };
  const clientEnv: NodeJS.ProcessEnv = { ...env, MICROVM_SOCKET: ready.socketPath };
  return {
    dataDir,
    env: clientEnv,
    ...ready,
    process: child,
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

import { spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { MicrovmClient } from '../../sdk/index.js';
import { daemonPaths, projectRoot } from '../core/paths/app-paths.js';
import { CliError } from './cli-failure.js';

const READY_TIMEOUT_MS = 60_000;

/**
 * A client for the daemon, starting one in the background first when nothing answers on
 * the socket, so `microvm create` works without a separate `microvm serve`. A daemon
 * named by MICROVM_URL is someone else's to run: it is never started from here.
 */
export async function daemonClient(): Promise<MicrovmClient> {
  const client = new MicrovmClient();
  if (process.env.MICROVM_URL || (await client.answers())) return client;

  const { log } = daemonPaths();
  mkdirSync(dirname(log), { recursive: true, mode: 0o700 });
  const output = openSync(log, 'a', 0o600);
  const child = spawn(process.execPath, [join(projectRoot(), 'bin', 'microvm.js'), 'serve'], {
    detached: true,
    stdio: ['ignore', output, output],
  });
  closeSync(output);
  let exited: number | string | null = null;
  child.once('exit', (code, signal) => (exited = code ?? signal));
  child.unref();
  process.stderr.write(`started the microvm daemon in the background (pid ${child.pid}, log ${log})\n`);

  const deadline = Date.now() + READY_TIMEOUT_MS;
  for (;;) {
    // Checked before the exit: another CLI may have won the race to start the daemon.
    if (await client.answers()) return client;
    if (exited !== null) {
      throw new CliError('daemon_unreachable', `the background daemon exited (${exited}) before answering on ${client.target}; see ${log}`);
    }
    if (Date.now() > deadline) {
      throw new CliError('daemon_unreachable', `the background daemon (pid ${child.pid}) did not answer on ${client.target} within ${READY_TIMEOUT_MS / 1000} s; see ${log}`);
    }
    await sleep(200);
  }
}

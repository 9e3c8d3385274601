import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AgentClient } from '../../src/main/core/agent/agent-client.js';
import { stdioTransport } from '../../src/main/core/agent/agent-transports.js';
import { buildGuestAgent } from '../../src/main/core/build/guest-agent-build.js';

/**
 * The guest agent run on the test host. It executes whatever the tests ask as root, so it
 * gets its own PID, mount, UTS and IPC namespaces: its hostname, mounts and process tree
 * are its own, and --kill-child takes the whole namespace down with unshare.
 */
export interface HostAgent {
  child: ChildProcess;
  /** The agent's log (its stderr), for diagnosing a failed test. */
  log(): string;
  stop(): Promise<void>;
}

export interface StdioAgent extends HostAgent {
  client: AgentClient;
}

export interface UnixAgent extends HostAgent {
  socketPath: string;
}

export async function startStdioAgent(): Promise<StdioAgent> {
  const agent = await spawnAgent(['--listen', 'stdio'], null);
  try {
    const client = await AgentClient.connect(stdioTransport(agent.child), { deadlineMs: 15_000 });
    return { ...agent, client };
  } catch (error) {
    await agent.stop();
    throw new Error(`${(error as Error).message}\nagent log:\n${agent.log()}`, { cause: error });
  }
}

export async function startUnixAgent(): Promise<UnixAgent> {
  const dir = await mkdtemp(join(tmpdir(), 'microvm-agent-'));
  const socketPath = join(dir, 'agent.sock');
  const agent = await spawnAgent(['--listen', `unix:${socketPath}`], dir);
  return { ...agent, socketPath };
}

async function spawnAgent(listen: string[], tempDir: string | null): Promise<HostAgent> {
  const { path } = await buildGuestAgent();
  const child = spawn('unshare', ['--pid', '--fork', '--mount', '--uts', '--ipc', '--kill-child', '--', path, ...listen], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let log = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    log += chunk.toString();
  });
  // The transport's own listeners report a broken pipe; this keeps it from being unhandled.
  child.stdin?.on('error', () => {});
  const exited = new Promise<void>((resolve) => {
    child.once('exit', () => resolve());
    child.once('error', () => resolve());
  });
  return {
    child,
    log: () => log,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
      if (tempDir !== null) await rm(tempDir, { recursive: true, force: true });
    },
  };
}

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * The stand-in's "guest": the real guest agent, run on the host in its own PID, mount,
 * UTS and IPC namespaces (as in test/support/agent-on-host.ts) and listening on a private
 * Unix socket that plays the guest's vsock port. setpriv's parent-death signal ends it
 * with the stand-in even when the stand-in is SIGKILLed, like a guest dies with its VMM;
 * unshare --kill-child then takes the namespace down.
 */
export class StandinGuest {
  private constructor(
    readonly agentSocket: string,
    private readonly dir: string,
    private readonly child: ChildProcess,
    private readonly exited: Promise<void>,
  ) {}

  static async start(agentBinary: string): Promise<StandinGuest> {
    const dir = await mkdtemp(join(process.env.MICROVM_STANDIN_SCRATCH ?? tmpdir(), 'ch-standin-guest-'));
    const agentSocket = join(dir, 'agent.sock');
    const child = spawn(
      'setpriv',
      ['--pdeathsig', 'KILL', '--', 'unshare', '--pid', '--fork', '--mount', '--uts', '--ipc', '--kill-child', '--', agentBinary, '--listen', `unix:${agentSocket}`],
      // The agent's log goes where the stand-in's does: the driver's vmm.log.
      { stdio: ['ignore', 'ignore', 'inherit'] },
    );
    const exited = new Promise<void>((resolve) => {
      child.once('exit', () => resolve());
      child.once('error', () => resolve());
    });
    return new StandinGuest(agentSocket, dir, child, exited);
  }

  async stop(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
    await this.exited;
    await rm(this.dir, { recursive: true, force: true });
  }
}

import { mkdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { execa, type ResultPromise } from 'execa';
import { AgentClient } from '../agent/agent-client.js';
import { connectUnixSocket } from '../agent/agent-transports.js';
import { SandboxError } from '../errors/sandbox-error.js';
import type { MinimalImage } from '../images/minimal-image-builder.js';
import { chooseQemuAccel } from './qemu-accel.js';
import { hostTscKhz } from './host-tsc.js';
import { qemuMicrovmArgs, type QemuAccel } from './qemu-command.js';

export interface LaunchOptions {
  image: MinimalImage;
  /** A private directory for this VM's sockets and logs; removed on stop. */
  workDir: string;
  memoryMiB?: number;
  vcpus?: number;
  hostname?: string;
  accel?: QemuAccel;
  agentDeadlineMs?: number;
}

/**
 * Boots the minimal image under QEMU `-M microvm` and connects to its agent. This is
 * the QEMU path without the VM manager around it: tests, benchmarks and the first-run
 * demo use it directly.
 */
export class QemuMicrovm {
  private stopped = false;

  private constructor(
    private client: AgentClient,
    private readonly process: ResultPromise,
    readonly workDir: string,
    private readonly agentSocket: string,
    readonly serialLog: string,
    readonly accel: QemuAccel,
    /** Milliseconds from spawning QEMU to the agent's HELLO. */
    readonly launchToReadyMs: number,
  ) {}

  static async launch(options: LaunchOptions): Promise<QemuMicrovm> {
    const accel = options.accel ?? (await chooseQemuAccel(options.image.kernel)).accel;
    await mkdir(options.workDir, { recursive: true, mode: 0o700 });
    const agentSocket = join(options.workDir, 'agent.sock');
    const serialLog = join(options.workDir, 'serial.log');
    const hostname = options.hostname ?? 'sandbox';
    if (!/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/.test(hostname)) {
      throw new SandboxError('invalid_argument', `hostname "${hostname}" is not a valid DNS label`);
    }
    const args = qemuMicrovmArgs({
      kernel: options.image.kernel,
      initrd: options.image.initrd,
      cmdline: `${options.image.cmdline} microvm.hostname=${hostname}${await tcgClockHint(accel)}`,
      memoryMiB: options.memoryMiB ?? 256,
      vcpus: options.vcpus ?? 1,
      accel,
      agentSocket,
      serialLog,
    });
    const started = performance.now();
    const child = execa('qemu-system-x86_64', args, { reject: false, stdin: 'ignore', cleanup: true });
    const exited = child.then((r) => r);
    try {
      const deadlineMs = options.agentDeadlineMs ?? 120_000;
      const socket = await Promise.race([
        connectUnixSocket(agentSocket, { deadlineMs }),
        exited.then((r) => {
          throw new SandboxError('agent_unreachable', `QEMU exited before the agent answered: ${r.stderr || `exit ${r.exitCode}`}`);
        }),
      ]);
      const agent = await AgentClient.connect(socket, { deadlineMs });
      return new QemuMicrovm(agent, child, options.workDir, agentSocket, serialLog, accel, performance.now() - started);
    } catch (error) {
      child.kill('SIGKILL');
      await exited;
      const serial = await serialTail(serialLog);
      await rm(options.workDir, { recursive: true, force: true });
      if (error instanceof SandboxError) {
        throw new SandboxError(error.code, `${error.message}\nlast serial console lines:\n${serial}`, error.details);
      }
      throw error;
    }
  }

  get agent(): AgentClient {
    return this.client;
  }

  /**
   * Drops the host side of the agent channel and starts a new session on a new
   * connection, as happens after every snapshot restore. The agent sees the port close,
   * cancels the old session's streams and waits for the next preamble.
   */
  async reconnectAgent(deadlineMs = 30_000): Promise<AgentClient> {
    this.client.close();
    const socket = await connectUnixSocket(this.agentSocket, { deadlineMs });
    this.client = await AgentClient.connect(socket, { deadlineMs });
    return this.client;
  }

  get pid(): number | undefined {
    return this.process.pid;
  }

  /** Resolves when QEMU has exited, for whatever reason. */
  async exited(): Promise<void> {
    await this.process;
  }

  /** Asks the guest to power off, then makes sure QEMU is gone and its files removed. */
  async stop(graceMs = 10_000): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    await this.client.power('poweroff').catch(() => undefined);
    const timer = setTimeout(() => this.process.kill('SIGKILL'), graceMs);
    await this.process;
    clearTimeout(timer);
    this.client.close();
    await rm(this.workDir, { recursive: true, force: true });
  }
}

async function serialTail(path: string, lines = 20): Promise<string> {
  const text = await readFile(path, 'utf8').catch(() => '(no serial output)');
  return text.trimEnd().split('\n').slice(-lines).join('\n');
}

/** Under TCG the guest must be told the TSC frequency; see host-tsc.ts. */
async function tcgClockHint(accel: QemuAccel): Promise<string> {
  if (accel !== 'tcg') return '';
  const khz = await hostTscKhz();
  return khz ? ` tsc_early_khz=${khz}` : '';
}

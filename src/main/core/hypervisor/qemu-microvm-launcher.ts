import { mkdir, rm } from 'node:fs/promises';
import type { AgentClient } from '../agent/agent-client.js';
import { SandboxError } from '../errors/sandbox-error.js';
import type { MinimalImage } from '../images/minimal-image-builder.js';
import { isValidSandboxName } from '../sandbox/create-request.js';
import type { RunningVm } from './hypervisor-driver.js';
import { chooseQemuAccel } from './qemu-accel.js';
import type { QemuAccel } from './qemu-command.js';
import { QemuDriver } from './qemu/qemu-driver.js';
import { withSerialTail } from './serial-log.js';

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
 * One minimal VM on the QEMU driver with its agent connected, without the VM manager or
 * the store around it: the agent's VM tests, the benchmarks and the first-run demo use it.
 */
export class QemuMicrovm {
  private stopped = false;

  private constructor(
    private client: AgentClient,
    private readonly vm: RunningVm,
    readonly workDir: string,
    readonly accel: QemuAccel,
    /** Milliseconds from spawning QEMU to the agent's HELLO. */
    readonly launchToReadyMs: number,
  ) {}

  static async launch(options: LaunchOptions): Promise<QemuMicrovm> {
    const accel = options.accel ?? (await chooseQemuAccel(options.image.kernel)).accel;
    const hostname = options.hostname ?? 'sandbox';
    if (!isValidSandboxName(hostname)) {
      throw new SandboxError('invalid_argument', `hostname "${hostname}" is not a valid DNS label`);
    }
    await mkdir(options.workDir, { recursive: true, mode: 0o700 });
    const started = performance.now();
    const vm = await new QemuDriver({ accel }).launch({
      id: hostname,
      hostname,
      kernel: options.image.kernel,
      initrd: options.image.initrd,
      cmdline: options.image.cmdline,
      vcpus: options.vcpus ?? 1,
      memoryMiB: options.memoryMiB ?? 256,
      runDir: options.workDir,
    });
    const deadlineMs = options.agentDeadlineMs ?? 120_000;
    try {
      const agent = await Promise.race([
        vm.connectAgent(deadlineMs),
        vm.exited.then((exit) => {
          throw new SandboxError('agent_unreachable', `QEMU exited before the agent answered (code ${exit.code}, signal ${exit.signal})`);
        }),
      ]);
      return new QemuMicrovm(agent, vm, options.workDir, accel, performance.now() - started);
    } catch (error) {
      await vm.kill();
      const message = await withSerialTail((error as Error).message, vm.handle.serialLog);
      await vm.cleanup();
      await rm(options.workDir, { recursive: true, force: true });
      if (error instanceof SandboxError) throw new SandboxError(error.code, message, error.details);
      throw error;
    }
  }

  get agent(): AgentClient {
    return this.client;
  }

  get serialLog(): string {
    return this.vm.handle.serialLog;
  }

  /**
   * Drops the host side of the agent channel and starts a new session on a new
   * connection, as happens after every snapshot restore. The agent sees the port close,
   * cancels the old session's streams and waits for the next preamble.
   */
  async reconnectAgent(deadlineMs = 30_000): Promise<AgentClient> {
    this.client.close();
    this.client = await this.vm.connectAgent(deadlineMs);
    return this.client;
  }

  /** Resolves when QEMU has exited, for whatever reason. */
  async exited(): Promise<void> {
    await this.vm.exited;
  }

  /** Asks the guest to power off, then makes sure QEMU is gone and its files removed. */
  async stop(graceMs = 10_000): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    await this.client.power('poweroff').catch(() => undefined);
    const timer = setTimeout(() => void this.vm.kill(), graceMs);
    await this.vm.exited;
    clearTimeout(timer);
    this.client.close();
    await this.vm.cleanup();
    await rm(this.workDir, { recursive: true, force: true });
  }
}

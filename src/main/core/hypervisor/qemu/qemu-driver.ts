import { spawn } from 'node:child_process';
import { open, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { AgentClient } from '../../agent/agent-client.js';
import { connectUnixSocket } from '../../agent/agent-transports.js';
import { SandboxError } from '../../errors/sandbox-error.js';
import type { HypervisorDriver, RunningVm, VmExit, VmHandle, VmLaunchSpec, VmRunState, VmSnapshot } from '../hypervisor-driver.js';
import { hostTscKhz } from '../host-tsc.js';
import { isSameProcess, readPidStartTicks, waitForProcessExit } from '../process-identity.js';
import { chooseQemuAccel } from '../qemu-accel.js';
import { qemuMicrovmArgs, type QemuAccel } from '../qemu-command.js';
import { QmpClient } from './qmp-client.js';
import { migrateFromFile, migrateToFile } from './qemu-migration.js';

export interface QemuDriverOptions {
  binary?: string;
  /** Forces an accelerator instead of probing for a working KVM. */
  accel?: QemuAccel;
}

const QMP_DEADLINE_MS = 15_000;
/** QEMU's migration stream: device state and guest RAM (zero pages cost a few bytes). */
const MEMORY_STATE_FILE = 'memory.qemu';

/**
 * QEMU `-M microvm` through QMP. The QEMU process is started in its own session so it
 * outlives the daemon: a restarted daemon adopts it again instead of losing the VM.
 */
export class QemuDriver implements HypervisorDriver {
  readonly kind = 'qemu' as const;

  constructor(private readonly options: QemuDriverOptions = {}) {}

  launch(spec: VmLaunchSpec): Promise<RunningVm> {
    return this.start(spec, null);
  }

  restore(spec: VmLaunchSpec, dir: string): Promise<RunningVm> {
    return this.start(spec, dir);
  }

  private async start(spec: VmLaunchSpec, restoreFrom: string | null): Promise<QemuVm> {
    const accel = this.options.accel ?? (await chooseQemuAccel(spec.kernel)).accel;
    const files = vmFiles(spec.runDir);
    const args = [
      '-name', `microvm-${spec.id},process=microvm-${spec.id}`,
      ...qemuMicrovmArgs({
        kernel: spec.kernel,
        initrd: spec.initrd,
        cmdline: `${spec.cmdline} microvm.hostname=${spec.hostname}${spec.nic?.cmdline ? ` ${spec.nic.cmdline}` : ''}${await tcgClockHint(accel)}`,
        memoryMiB: spec.memoryMiB,
        vcpus: spec.vcpus,
        accel,
        agentSocket: files.agentSocket,
        serialLog: files.serialLog,
        qmpSocket: files.qmpSocket,
        ...(spec.disk ? { disk: spec.disk.path } : {}),
        ...(spec.nic ? { nic: spec.nic } : {}),
      }),
      ...(restoreFrom ? ['-incoming', 'defer'] : []),
    ];
    const log = await open(files.vmmLog, 'w', 0o600);
    const child = spawn(this.options.binary ?? 'qemu-system-x86_64', args, {
      detached: true,
      stdio: ['ignore', log.fd, log.fd],
    });
    // Listening before any await: a missing binary reports 'error' on the next tick.
    const exit = new Promise<{ code: number | null; signal: string | null }>((resolve) => {
      child.once('exit', (code, signal) => resolve({ code, signal }));
      child.once('error', () => resolve({ code: null, signal: null }));
    });
    await log.close();
    child.unref();
    const failed = async (reason: string): Promise<never> => {
      child.kill('SIGKILL');
      await exit;
      const output = (await readFile(files.vmmLog, 'utf8').catch(() => '')).trim();
      await removeFiles(files);
      throw new SandboxError('hypervisor_error', `${reason}${output ? `: ${output}` : ''}`);
    };
    const pid = child.pid;
    if (pid === undefined) return failed(`QEMU (${this.options.binary ?? 'qemu-system-x86_64'}) could not be started`);
    const pidStartTicks = await readPidStartTicks(pid);
    if (pidStartTicks === null) return failed('QEMU exited at once');
    // The child is unref'd so a daemon may exit and leave its VMs to the next one; the
    // poll keeps this process alive, and the exit observed, for as long as the VM runs.
    const exited = Promise.race([exit, waitForProcessExit(pid, pidStartTicks).then(() => ({ code: null, signal: null }))]);

    const qmp = await Promise.race([
      connectQmp(files.qmpSocket),
      exited.then(() => null),
    ]).catch(() => null);
    if (!qmp) return failed('QEMU did not open its QMP socket');

    const handle: VmHandle = {
      kind: 'qemu',
      pid,
      pidStartTicks,
      runDir: spec.runDir,
      serialLog: files.serialLog,
      controlSocket: files.qmpSocket,
      agent: { kind: 'unix', path: files.agentSocket },
    };
    const vm = new QemuVm(handle, qmp, exited);
    if (restoreFrom) {
      try {
        await migrateFromFile(qmp, spec.runDir, join(restoreFrom, MEMORY_STATE_FILE));
        await qmp.execute('cont');
      } catch (error) {
        return failed((error as Error).message);
      }
    }
    return vm;
  }

  async adopt(handle: VmHandle): Promise<RunningVm | null> {
    if (handle.kind !== 'qemu' || !(await isSameProcess(handle.pid, handle.pidStartTicks))) return null;
    const qmp = await connectQmp(handle.controlSocket, 2_000).catch(() => null);
    if (!qmp) return null;
    const exit = waitForProcessExit(handle.pid, handle.pidStartTicks).then(() => ({ code: null, signal: null }));
    return new QemuVm(handle, qmp, exit);
  }
}

class QemuVm implements RunningVm {
  readonly exited: Promise<VmExit>;
  private guestShutdown = false;

  constructor(
    readonly handle: VmHandle,
    private readonly qmp: QmpClient,
    exit: Promise<{ code: number | null; signal: string | null }>,
  ) {
    qmp.on('event', (event: { event: string; data?: { guest?: boolean } }) => {
      if (event.event === 'SHUTDOWN' && event.data?.guest) this.guestShutdown = true;
    });
    this.exited = exit.then(({ code, signal }) => {
      qmp.close();
      // With -no-reboot QEMU exits with 0 after a guest power-off; an adopted process's
      // exit code cannot be read, but QMP told us whether the guest shut down.
      return { clean: this.guestShutdown || code === 0, code, signal };
    });
  }

  async pause(): Promise<void> {
    await this.qmp.execute('stop');
  }

  async resume(): Promise<void> {
    await this.qmp.execute('cont');
  }

  async status(): Promise<VmRunState> {
    const { status } = await this.qmp.execute<{ status: string }>('query-status');
    if (status === 'running') return 'running';
    if (status === 'shutdown' || status === 'guest-panicked') return 'shutdown';
    return 'paused';
  }

  async powerButton(): Promise<void> {
    await this.qmp.execute('system_powerdown');
  }

  async kill(): Promise<void> {
    if (await isSameProcess(this.handle.pid, this.handle.pidStartTicks)) process.kill(this.handle.pid, 'SIGKILL');
    await this.exited;
  }

  async snapshot(dir: string): Promise<VmSnapshot> {
    const wasRunning = (await this.status()) === 'running';
    const { qemu } = await this.qmp.execute<{ qemu: { major: number; minor: number; micro: number } }>('query-version');
    const started = performance.now();
    if (wasRunning) await this.qmp.execute('stop');
    try {
      const memory = await migrateToFile(this.qmp, this.handle.runDir, join(dir, MEMORY_STATE_FILE));
      return {
        files: [{ name: MEMORY_STATE_FILE, ...memory }],
        pauseMs: performance.now() - started,
        vmmVersion: `${qemu.major}.${qemu.minor}.${qemu.micro}`,
      };
    } finally {
      if (wasRunning) await this.qmp.execute('cont');
    }
  }

  async connectAgent(deadlineMs: number): Promise<AgentClient> {
    if (this.handle.agent.kind !== 'unix') throw new SandboxError('internal', 'a QEMU VM has a Unix agent socket');
    const socket = await connectUnixSocket(this.handle.agent.path, { deadlineMs });
    return AgentClient.connect(socket, { deadlineMs });
  }

  async cleanup(): Promise<void> {
    this.qmp.close();
    await removeFiles(vmFiles(this.handle.runDir));
  }
}

interface VmFiles {
  agentSocket: string;
  qmpSocket: string;
  serialLog: string;
  vmmLog: string;
}

function vmFiles(runDir: string): VmFiles {
  return {
    agentSocket: join(runDir, 'agent.sock'),
    qmpSocket: join(runDir, 'qmp.sock'),
    serialLog: join(runDir, 'serial.log'),
    vmmLog: join(runDir, 'qemu.log'),
  };
}

async function removeFiles(files: VmFiles): Promise<void> {
  await Promise.all(Object.values(files).map((path) => rm(path, { force: true })));
}

async function connectQmp(path: string, deadlineMs = QMP_DEADLINE_MS): Promise<QmpClient> {
  const deadline = Date.now() + deadlineMs;
  for (;;) {
    try {
      return await QmpClient.connect(path);
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await sleep(25);
    }
  }
}

/**
 * Under TCG the guest must be told the TSC frequency: microvm has no HPET or PM timer to
 * calibrate it against, and PIT calibration fails on a busy host (see host-tsc.ts).
 */
async function tcgClockHint(accel: QemuAccel): Promise<string> {
  if (accel !== 'tcg') return '';
  const khz = await hostTscKhz();
  return khz ? ` tsc_early_khz=${khz}` : '';
}

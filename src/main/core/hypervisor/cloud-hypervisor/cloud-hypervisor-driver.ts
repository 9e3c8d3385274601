import { spawn } from 'node:child_process';
import { mkdir, open, readFile, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { AgentClient } from '../../agent/agent-client.js';
import { connectChVsock } from '../../agent/agent-transports.js';
import { SandboxError } from '../../errors/sandbox-error.js';
import type { HypervisorDriver, RunningVm, VmExit, VmHandle, VmLaunchSpec, VmRunState, VmSnapshot } from '../hypervisor-driver.js';
import { hashFile } from '../state-file-digest.js';
import { isSameProcess, readPidStartTicks, waitForProcessExit } from '../process-identity.js';
import { ChApiClient, type ChPing } from './ch-api-client.js';
import { AGENT_VSOCK_PORT, chDisk, chNet, chVmConfig } from './ch-vm-config.js';

export interface CloudHypervisorDriverOptions {
  /** Path to `cloud-hypervisor`, or a name looked up on PATH. */
  binary: string;
}

/**
 * Oldest Cloud Hypervisor release this driver accepts. What it relies on is older:
 * `payload` in VmConfig, `pid` in vmm.ping (v32) and direct boot of a bzImage such as
 * Debian's kernel (v39); v44 is the oldest release whose API wire behaviour (status
 * codes, error bodies, socket handling) was checked. Both error-body formats (plain
 * text up to v46, JSON array of strings from v47) are understood.
 */
export const MIN_CH_MAJOR_VERSION = 44;

const API_DEADLINE_MS = 15_000;
const ADOPT_PING_TIMEOUT_MS = 2_000;
const API_POLL_MS = 25;
const AGENT_RETRY_MS = 100;

interface ProcessExit {
  code: number | null;
  signal: string | null;
}

/**
 * Cloud Hypervisor through its REST API. CH starts with only the API socket; the VM is
 * then created and booted over the API, so the whole config travels as JSON instead of
 * CLI syntax. The process runs in its own session so it outlives the daemon, which adopts
 * it again after a restart.
 */
export class CloudHypervisorDriver implements HypervisorDriver {
  readonly kind = 'cloud-hypervisor' as const;

  constructor(private readonly options: CloudHypervisorDriverOptions) {}

  launch(spec: VmLaunchSpec): Promise<RunningVm> {
    return this.start(spec, async (api, files) => {
      await api.createVm(chVmConfig(spec, files));
      await api.action('vm.boot');
    });
  }

  /**
   * vm.restore on a fresh VMM. CH rebinds the socket paths and reopens the files named
   * in the snapshot's config.json, so the VM is restored from a directory of its own
   * whose config.json names this VM's run directory and this sandbox's own disk (a fork
   * must not open the original's overlay), with the (verified) state and memory linked
   * in rather than copied.
   */
  restore(spec: VmLaunchSpec, dir: string): Promise<RunningVm> {
    return this.start(spec, async (api, files) => {
      const staged = join(spec.runDir, 'restore');
      await rm(staged, { recursive: true, force: true });
      await mkdir(staged, { mode: 0o700 });
      const config = JSON.parse(await readFile(join(dir, 'config.json'), 'utf8')) as SavedChConfig;
      config.serial = { ...config.serial, file: files.serialLog };
      config.vsock = { ...config.vsock, socket: files.vsockSocket };
      if (spec.disk) config.disks = [{ ...config.disks?.[0], ...chDisk(spec.disk.path) }];
      else delete config.disks;
      // A fork gets its own TAP and MAC; the guest is moved to them once it runs.
      if (spec.nic) config.net = [{ ...config.net?.[0], ...chNet(spec.nic) }];
      else delete config.net;
      await writeFile(join(staged, 'config.json'), JSON.stringify(config), { mode: 0o600 });
      for (const name of await readdir(dir)) {
        if (name !== 'config.json') await symlink(join(dir, name), join(staged, name));
      }
      try {
        await api.restore(staged);
        await api.action('vm.resume');
      } finally {
        await rm(staged, { recursive: true, force: true });
      }
    });
  }

  private async start(spec: VmLaunchSpec, boot: (api: ChApiClient, files: ChRunFiles) => Promise<void>): Promise<RunningVm> {
    const files = chRunFiles(spec.runDir);
    // Up to v52 CH cannot bind over an existing path, and CH binds the vsock socket at boot
    // the same way; a crashed earlier run may have left either behind.
    await rm(files.apiSocket, { force: true });
    await rm(files.vsockSocket, { force: true });

    const log = await open(files.vmmLog, 'w', 0o600);
    const child = spawn(this.options.binary, ['--api-socket', `path=${files.apiSocket}`], {
      detached: true,
      stdio: ['ignore', log.fd, log.fd],
    });
    // Listening before any await: a failed spawn reports 'error' on the next tick.
    const exit = new Promise<ProcessExit>((resolve) => {
      child.once('exit', (code, signal) => resolve({ code, signal }));
      child.on('error', () => resolve({ code: null, signal: null }));
    });
    child.unref();
    await log.close();

    const failed = async (reason: string, code = 'hypervisor_error'): Promise<never> => {
      if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exit;
      const output = (await readFile(files.vmmLog, 'utf8').catch(() => '')).trim();
      await removeRunFiles(spec.runDir);
      throw new SandboxError(code, `${reason}${output ? `\nCloud Hypervisor output:\n${output}` : ''}`);
    };

    const pid = child.pid;
    if (pid === undefined) return failed(`Cloud Hypervisor (${this.options.binary}) could not be started`);
    const pidStartTicks = await readPidStartTicks(pid);
    if (pidStartTicks === null) return failed('Cloud Hypervisor exited at once');

    const api = new ChApiClient(files.apiSocket);
    const stopWaiting = new AbortController();
    void exit.then(() => stopWaiting.abort());
    const ping = await waitForApi(api, API_DEADLINE_MS, stopWaiting.signal).catch(() => null);
    if (!ping) return failed('Cloud Hypervisor did not answer on its API socket');
    const unsupported = versionProblem(ping);
    if (unsupported) return failed(unsupported, 'hypervisor_unavailable');

    try {
      await boot(api, files);
    } catch (error) {
      return failed(`Cloud Hypervisor could not start the VM: ${(error as Error).message}`);
    }

    const handle: VmHandle = {
      kind: 'cloud-hypervisor',
      pid,
      pidStartTicks,
      runDir: spec.runDir,
      serialLog: files.serialLog,
      controlSocket: files.apiSocket,
      agent: { kind: 'ch-vsock', path: files.vsockSocket, port: AGENT_VSOCK_PORT },
    };
    // CH exits with 0 when the guest powers off; a signal or error exit is a crash or a kill.
    return new ChVm(handle, api, exit.then(({ code, signal }) => ({ clean: code === 0, code, signal })));
  }

  async adopt(handle: VmHandle): Promise<RunningVm | null> {
    if (handle.kind !== 'cloud-hypervisor' || !(await isSameProcess(handle.pid, handle.pidStartTicks))) return null;
    const api = new ChApiClient(handle.controlSocket, { timeoutMs: ADOPT_PING_TIMEOUT_MS });
    const ping = await api.ping().catch(() => null);
    // The pid in the answer proves the socket belongs to this process, not to a CH started since.
    if (!ping || (ping.pid !== undefined && ping.pid !== handle.pid)) return null;
    let vm: ChVm | null = null;
    // An adopted process is not our child, so its exit code cannot be read: a power-off
    // we asked for is the only sign that the exit was clean.
    const exit = waitForProcessExit(handle.pid, handle.pidStartTicks).then(
      (): VmExit => ({ clean: vm?.poweredOffByRequest ?? false, code: null, signal: null }),
    );
    vm = new ChVm(handle, new ChApiClient(handle.controlSocket), exit);
    return vm;
  }
}

class ChVm implements RunningVm {
  readonly exited: Promise<VmExit>;
  poweredOffByRequest = false;
  private killed = false;
  private gone = false;

  constructor(
    readonly handle: VmHandle,
    private readonly api: ChApiClient,
    exit: Promise<VmExit>,
  ) {
    this.exited = exit.then((result) => {
      this.gone = true;
      return this.killed ? { ...result, clean: false } : result;
    });
  }

  async pause(): Promise<void> {
    await this.api.action('vm.pause');
  }

  async resume(): Promise<void> {
    await this.api.action('vm.resume');
  }

  async status(): Promise<VmRunState> {
    try {
      const { state } = await this.api.info();
      if (state === 'Running') return 'running';
      // BreakPoint: vCPUs halted by the debugger (guest_debug builds only).
      if (state === 'Paused' || state === 'BreakPoint') return 'paused';
      // Created again after vm.shutdown: the guest is not running.
      return 'shutdown';
    } catch (error) {
      if (this.gone || !(await isSameProcess(this.handle.pid, this.handle.pidStartTicks))) return 'shutdown';
      throw error;
    }
  }

  async powerButton(): Promise<void> {
    await this.api.action('vm.power-button');
    this.poweredOffByRequest = true;
  }

  async kill(): Promise<void> {
    this.killed = true;
    if (await isSameProcess(this.handle.pid, this.handle.pidStartTicks)) process.kill(this.handle.pid, 'SIGKILL');
    await this.exited;
  }

  async snapshot(dir: string): Promise<VmSnapshot> {
    const wasRunning = (await this.status()) === 'running';
    const { version } = await this.api.ping();
    const started = performance.now();
    if (wasRunning) await this.api.action('vm.pause');
    try {
      await this.api.snapshot(dir);
      const files = await Promise.all((await readdir(dir)).sort().map((name) => hashFile(dir, name)));
      return { files, pauseMs: performance.now() - started, vmmVersion: version };
    } finally {
      if (wasRunning) await this.api.action('vm.resume');
    }
  }

  /**
   * Right after boot the guest agent may not listen yet; CH then closes the connection
   * instead of answering OK, so the CONNECT is retried until the deadline.
   */
  async connectAgent(deadlineMs: number): Promise<AgentClient> {
    const { agent } = this.handle;
    if (agent.kind !== 'ch-vsock') throw new SandboxError('internal', 'a Cloud Hypervisor VM has a hybrid vsock agent endpoint');
    const deadline = Date.now() + deadlineMs;
    for (;;) {
      try {
        const socket = await connectChVsock(agent.path, agent.port, { deadlineMs: Math.max(0, deadline - Date.now()) });
        return await AgentClient.connect(socket, { deadlineMs: Math.max(1, deadline - Date.now()) });
      } catch (error) {
        const retriable = error instanceof SandboxError && error.code === 'agent_unreachable' && !this.gone;
        if (!retriable || Date.now() + AGENT_RETRY_MS >= deadline) throw error;
        await sleep(AGENT_RETRY_MS);
      }
    }
  }

  async cleanup(): Promise<void> {
    await removeRunFiles(this.handle.runDir);
  }
}

/** A snapshot's config.json, as far as a restore rewrites it. */
interface SavedChConfig {
  serial?: Record<string, unknown>;
  vsock?: Record<string, unknown>;
  disks?: Record<string, unknown>[];
  net?: Record<string, unknown>[];
  [field: string]: unknown;
}

interface ChRunFiles {
  apiSocket: string;
  vsockSocket: string;
  serialLog: string;
  vmmLog: string;
}

function chRunFiles(runDir: string): ChRunFiles {
  return {
    apiSocket: join(runDir, 'api.sock'),
    vsockSocket: join(runDir, 'vsock.sock'),
    serialLog: join(runDir, 'serial.log'),
    vmmLog: join(runDir, 'vmm.log'),
  };
}

/**
 * Everything the driver or CH put in the run directory: CH (v53+) also keeps a lock file
 * next to the API socket, and guest-initiated vsock connections use `<vsock>_<port>`
 * sockets.
 */
async function removeRunFiles(runDir: string): Promise<void> {
  const files = chRunFiles(runDir);
  const vsockPrefix = `${basename(files.vsockSocket)}_`;
  const guestPorts = (await readdir(runDir).catch(() => [] as string[]))
    .filter((name) => name.startsWith(vsockPrefix))
    .map((name) => join(runDir, name));
  await Promise.all(
    [...Object.values(files), `${files.apiSocket}.lock`, ...guestPorts].map((path) => rm(path, { force: true })),
  );
}

/** Polls vmm.ping until CH answers; gives up at the deadline or when CH has exited. */
async function waitForApi(api: ChApiClient, deadlineMs: number, processExited: AbortSignal): Promise<ChPing> {
  const deadline = Date.now() + deadlineMs;
  for (;;) {
    try {
      return await api.ping();
    } catch (error) {
      if (processExited.aborted || Date.now() > deadline) throw error;
      await sleep(API_POLL_MS);
    }
  }
}

function versionProblem(ping: ChPing): string | null {
  const major = Number(/^v?(\d+)\./.exec(ping.version)?.[1]);
  if (!Number.isFinite(major)) return null;
  if (major >= MIN_CH_MAJOR_VERSION) return null;
  return `Cloud Hypervisor ${ping.version} is too old: version ${MIN_CH_MAJOR_VERSION}.0 or newer is needed`;
}

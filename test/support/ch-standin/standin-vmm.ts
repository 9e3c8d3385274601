import { constants as fsConstants } from 'node:fs';
import { access, appendFile, open, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import constants from '../../../guest-agent/protocol/constants.json' with { type: 'json' };
import { HybridVsock } from './hybrid-vsock.js';
import type { HttpRequest, HttpResponse } from './micro-http.js';
import { StandinGuest } from './standin-guest.js';
import { schemaError, vmConfigSchema } from './vm-config-schema.js';

/** A vm.create body that passed the schema check; only the fields the stand-in acts on. */
interface VmConfig {
  payload: { kernel?: string; firmware?: string; initramfs?: string; cmdline?: string };
  cpus?: { boot_vcpus: number; max_vcpus: number };
  memory?: { size: number };
  serial?: { mode: string; file?: string };
  console?: { mode: string; file?: string };
  vsock?: { cid: number; socket: string };
  disks?: { path?: string; image_type?: string; backing_files?: boolean; readonly?: boolean }[];
}

type VmState = 'Running' | 'Paused';

interface BootedVm {
  state: VmState;
  guest: StandinGuest;
  vsock: HybridVsock | null;
  /** ACPI power button pressed while paused: the guest reacts once it runs again. */
  powerButtonPending: boolean;
}

export interface StandinOptions {
  agentBinary: string;
  /** Reported by vmm.ping, so tests can pose as another release. */
  version: string;
  /** Called when the VMM process should end, as CH's does, with CH's exit code. */
  exit: (code: number) => void;
}

const DEFAULT_MEMORY = 536_870_912;
// The guest notices the ACPI power button and powers off a moment later.
const GUEST_POWER_OFF_DELAY_MS = 50;

const error = (status: number, ...chain: string[]): HttpResponse => ({ status, body: JSON.stringify(chain) });

/** The URL field of a vm.snapshot / vm.restore body, or the error CH answers a bad body with. */
function parseUrlBody(body: Buffer | null, field: string): string | HttpResponse {
  if (body === null) return { status: 400 };
  try {
    const value = (JSON.parse(body.toString('utf8')) as Record<string, unknown>)[field];
    if (typeof value === 'string') return value;
    return error(400, 'Failed to deserialize JSON', `missing field \`${field}\``);
  } catch (e) {
    return error(400, 'Failed to deserialize JSON', (e as Error).message);
  }
}
const QCOW_MAGIC = Buffer.from([0x51, 0x46, 0x49, 0xfb]);

/**
 * What CH's device manager does with each disk when it creates the devices (vm.boot and
 * vm.restore; make_virtio_block_device and block::open_disk): open the file, detect its
 * format, hold it against the image_type given, and open a qcow2's backing file only with
 * backing_files. Without an image_type CH detects one and, for qcow2, turns backing files
 * off. Returns the error chain, or null when every disk opens.
 */
async function openDisks(config: VmConfig): Promise<string[] | null> {
  for (const disk of config.disks ?? []) {
    if (!disk.path) return ['Error from device manager', 'No disk path was specified'];
    const header = Buffer.alloc(512);
    try {
      const file = await open(disk.path, disk.readonly ? 'r' : 'r+');
      await file.read(header, 0, header.length, 0);
      await file.close();
    } catch (e) {
      return ['Error from device manager', 'Cannot open disk path', `I/O error: path=${disk.path} op=open`, (e as Error).message];
    }
    const detected = header.subarray(0, 4).equals(QCOW_MAGIC) ? 'Qcow2' : 'Raw';
    const specified = disk.image_type ?? 'Unknown';
    let backingFiles = disk.backing_files ?? false;
    if (specified === 'Unknown') {
      if (detected === 'Qcow2') backingFiles = false;
    } else if (specified !== detected) {
      return ['Error from device manager', `Disk image type does not match expected type: specified = ${specified}, detected = ${detected}`];
    }
    if (detected !== 'Qcow2') continue;
    const backingOffset = Number(header.readBigUInt64BE(8));
    const backingSize = header.readUInt32BE(16);
    if (backingOffset === 0) continue;
    if (!backingFiles) return ['Error from device manager', 'Cannot open disk path', `Unsupported feature: path=${disk.path} op=open`, 'Maximum disk nesting depth exceeded'];
    const backingHeader = Buffer.alloc(backingOffset + backingSize);
    const file = await open(disk.path, 'r');
    await file.read(backingHeader, 0, backingHeader.length, 0);
    await file.close();
    const backing = backingHeader.subarray(backingOffset, backingOffset + backingSize).toString('utf8');
    if (!(await access(backing, fsConstants.R_OK).then(() => true, () => false))) {
      return ['Error from device manager', 'Cannot open disk path', `I/O error: path=${disk.path} op=open`, `Backing file I/O error: ${backing}`];
    }
  }
  return null;
}

const noContent: HttpResponse = { status: 204 };
const badRequest = error(400, 'Bad Request');
const notRunning = (action: string) => error(500, 'Error from API', action, 'VM is not running');

/**
 * CH v53's VMM behind the REST API, for the endpoints the driver uses: the VM state
 * machine (vm.* in CH:vmm/src/lib.rs), its error chains and status codes (v53: a missing
 * VM or config is 404, everything else 500), and the guest's side effects: the serial
 * file, the vsock socket, and the process exit when the guest powers off.
 */
export class StandinVmm {
  private config: VmConfig | null = null;
  private vm: BootedVm | null = null;

  constructor(private readonly options: StandinOptions) {}

  async handle(request: HttpRequest): Promise<HttpResponse> {
    const endpoint = request.path.startsWith('/api/v1/') ? request.path.slice('/api/v1/'.length) : null;
    const route = endpoint === null ? undefined : this.routes[endpoint];
    if (!route) return error(404, 'Not Found');
    // micro-http routes only GET and PUT; other methods get a bare 400.
    if (request.method !== 'GET' && request.method !== 'PUT') return { status: 400 };
    if (request.method !== route.method) return badRequest;
    if (route.method === 'PUT' && route.takesBody === false && request.body !== null) return badRequest;
    return route.run(request.body);
  }

  /** SIGTERM/SIGINT: CH releases everything and exits without shutting the guest down. */
  async terminate(): Promise<void> {
    await this.teardown();
  }

  private readonly routes: Record<string, { method: 'GET' | 'PUT'; takesBody?: boolean; run: (body: Buffer | null) => Promise<HttpResponse> }> = {
    'vmm.ping': { method: 'GET', run: async () => this.ping() },
    'vmm.shutdown': {
      method: 'PUT',
      takesBody: false,
      run: async () => {
        await this.teardown();
        // CH answers 200 with an empty body here, not the 204 its OpenAPI file promises.
        return { status: 200, after: () => this.options.exit(0) };
      },
    },
    'vm.create': { method: 'PUT', run: async (body) => this.create(body) },
    'vm.boot': { method: 'PUT', takesBody: false, run: async () => this.boot() },
    'vm.info': { method: 'GET', run: async () => this.info() },
    'vm.snapshot': { method: 'PUT', run: async (body) => this.snapshot(body) },
    'vm.restore': { method: 'PUT', run: async (body) => this.restore(body) },
    'vm.counters': {
      method: 'GET',
      run: async () => (this.vm ? { status: 200, body: '{}' } : notRunning('The VM info is not available')),
    },
    'vm.pause': { method: 'PUT', takesBody: false, run: async () => this.transition('Paused', 'The VM could not be paused', 'Cannot pause VM', 'Failed to pause migratable component') },
    'vm.resume': { method: 'PUT', takesBody: false, run: async () => this.resume() },
    'vm.power-button': { method: 'PUT', takesBody: false, run: async () => this.powerButton() },
    'vm.shutdown': {
      method: 'PUT',
      takesBody: false,
      run: async () => {
        if (!this.vm) return notRunning('The VM could not shutdown');
        await this.teardown();
        return noContent;
      },
    },
    'vm.delete': {
      method: 'PUT',
      takesBody: false,
      run: async () => {
        await this.teardown();
        this.config = null;
        return noContent;
      },
    },
  };

  private ping(): HttpResponse {
    const body = { build_version: `v${this.options.version}-standin`, version: this.options.version, pid: process.pid, features: ['kvm', 'io_uring'] };
    return { status: 200, body: JSON.stringify(body) };
  }

  private async create(body: Buffer | null): Promise<HttpResponse> {
    // VmCreate without a body: micro-http's bare 400.
    if (body === null) return { status: 400 };
    let parsed: unknown;
    try {
      parsed = JSON.parse(body.toString('utf8'));
    } catch (e) {
      return error(400, 'Failed to deserialize JSON', (e as Error).message);
    }
    const problem = schemaError(parsed, vmConfigSchema);
    if (problem) return error(400, 'Failed to deserialize JSON', problem);
    if (this.config) return error(500, 'Error from API', 'The VM could not be created', 'VM is already created');
    this.config = parsed as VmConfig;
    // CH creates console files at vm.create.
    if (this.config.serial?.mode === 'File' && this.config.serial.file) await writeFile(this.config.serial.file, '', { mode: 0o600 });
    return noContent;
  }

  private async boot(): Promise<HttpResponse> {
    const failed = (...chain: string[]) => error(500, 'Error from API', 'The VM could not boot', ...chain);
    if (this.vm) return failed('VM is already created');
    if (!this.config) return error(404, 'Error from API', 'The VM could not boot', 'VM config is missing');
    const invalid = await this.validate(this.config);
    if (invalid) return failed('Error validating VM configuration', invalid);
    const diskError = await openDisks(this.config);
    if (diskError) return failed(...diskError);
    const started = await this.startGuest('Running', failed);
    if (started) return started;
    await this.serial('[    0.000000] Linux version 6.1.0 (Cloud Hypervisor stand-in) #1 SMP\r\n');
    await this.serial(`[    0.000000] Command line: ${this.config.payload.cmdline ?? ''}\r\n`);
    return noContent;
  }

  /**
   * CH's vm.snapshot: the VM must exist and be paused, the URL must be file:// naming an
   * existing directory, and the three files are created exclusively (O_EXCL), so a
   * directory that already holds a snapshot is refused. memory-ranges is pre-sized to
   * the guest's RAM with untouched pages left as holes.
   */
  private async snapshot(body: Buffer | null): Promise<HttpResponse> {
    const failed = (...chain: string[]) => error(500, 'Error from API', 'The VM could not be snapshotted', ...chain);
    const url = parseUrlBody(body, 'destination_url');
    if (typeof url !== 'string') return url;
    if (!this.vm || !this.config) return error(404, 'Error from API', 'The VM could not be snapshotted', 'VM is not created');
    if (this.vm.state !== 'Paused') return failed('Trying to snapshot while VM is running');
    if (!url.startsWith('file://')) return failed('Invalid URL');
    const dir = url.slice('file://'.length);
    if (!(await stat(dir).then((s) => s.isDirectory(), () => false))) return failed(`Error creating snapshot directory: ${dir}`);
    try {
      await writeFile(join(dir, 'config.json'), JSON.stringify(this.config), { flag: 'wx', mode: 0o600 });
      await writeFile(join(dir, 'state.json'), JSON.stringify({ standin: true, vcpus: this.config.cpus?.boot_vcpus ?? 1 }), { flag: 'wx', mode: 0o600 });
      const memory = await open(join(dir, 'memory-ranges'), 'wx', 0o600);
      await memory.truncate(this.config.memory?.size ?? DEFAULT_MEMORY);
      await memory.write(Buffer.from('stand-in guest memory\n'), 0, undefined, 0);
      await memory.close();
    } catch (e) {
      return failed('Error taking snapshot', (e as Error).message);
    }
    return noContent;
  }

  /**
   * CH's vm.restore: only on a VMM with no VM config; the VM comes back paused, its
   * sockets bound again at the paths in the snapshot's config.json (which must not exist).
   */
  private async restore(body: Buffer | null): Promise<HttpResponse> {
    const failed = (...chain: string[]) => error(500, 'Error from API', 'The VM could not be restored', ...chain);
    const url = parseUrlBody(body, 'source_url');
    if (typeof url !== 'string') return url;
    if (this.config) return failed('VM is already created');
    if (!url.startsWith('file://')) return failed('Invalid URL');
    const dir = url.slice('file://'.length);
    let config: unknown;
    try {
      config = JSON.parse(await readFile(join(dir, 'config.json'), 'utf8'));
      await access(join(dir, 'state.json'), fsConstants.R_OK);
      await access(join(dir, 'memory-ranges'), fsConstants.R_OK);
    } catch (e) {
      return failed('Error restoring VM', (e as Error).message);
    }
    const problem = schemaError(config, vmConfigSchema);
    if (problem) return failed('Error restoring VM', problem);
    const diskError = await openDisks(config as VmConfig);
    if (diskError) return failed(...diskError);
    this.config = config as VmConfig;
    const started = await this.startGuest('Paused', failed);
    if (started) {
      this.config = null;
      return started;
    }
    await this.serial('[stand-in] restored from snapshot\r\n');
    return noContent;
  }

  private async startGuest(state: VmState, failed: (...chain: string[]) => HttpResponse): Promise<HttpResponse | null> {
    if (!this.config) return failed('VM config is missing');
    const guest = await StandinGuest.start(this.options.agentBinary);
    let vsock: HybridVsock | null = null;
    if (this.config.vsock) {
      try {
        vsock = await HybridVsock.listen(this.config.vsock.socket, constants.vsockPort, guest.agentSocket);
      } catch (e) {
        await guest.stop();
        return failed('Error creating device manager', 'Cannot create virtio-vsock device', `Error binding vsock socket: ${(e as Error).message}`);
      }
    }
    this.vm = { state, guest, vsock, powerButtonPending: false };
    return null;
  }

  /** The checks CH's VmConfig::validate makes at boot, for the fields the driver sends. */
  private async validate(config: VmConfig): Promise<string | null> {
    const { payload, cpus, serial, console } = config;
    if (!payload.kernel && !payload.firmware) return 'No kernel or firmware provided';
    for (const file of [payload.kernel, payload.firmware, payload.initramfs]) {
      if (file && !(await access(file, fsConstants.R_OK).then(() => true, () => false))) return `Cannot open payload file ${file}`;
    }
    if (cpus && cpus.max_vcpus < cpus.boot_vcpus) return 'Max vCPUs lower than boot vCPUs';
    if (serial?.mode === 'File' && !serial.file) return 'Path missing when using file serial configuration';
    if (console?.mode === 'File' && !console.file) return 'Path missing when using file console configuration';
    if (console?.mode === 'Socket') return 'Socket option is not supported for console device';
    return null;
  }

  private transition(to: VmState, action: string, ...cause: string[]): HttpResponse {
    if (!this.vm) return notRunning(action);
    const from = this.vm.state;
    if (from === to) return error(500, 'Error from API', action, ...cause, `Invalid transition: InvalidStateTransition(${from}, ${to})`);
    this.vm.state = to;
    return noContent;
  }

  private resume(): HttpResponse {
    const response = this.transition('Running', 'The VM could not resume', 'Cannot resume VM', 'Failed to resume migratable component');
    if (response.status === 204 && this.vm?.powerButtonPending) this.guestPowersOff();
    return response;
  }

  private powerButton(): HttpResponse {
    if (!this.vm) return notRunning('Error triggering power button');
    if (this.vm.state === 'Paused') this.vm.powerButtonPending = true;
    else this.guestPowersOff();
    return noContent;
  }

  /** Without --no-shutdown, a guest power-off ends the whole VMM process with exit code 0. */
  private guestPowersOff(): void {
    setTimeout(() => {
      void (async () => {
        await this.serial('reboot: Power down\r\n');
        await this.teardown();
        this.options.exit(0);
      })();
    }, GUEST_POWER_OFF_DELAY_MS);
  }

  private info(): HttpResponse {
    if (!this.config) return error(404, 'Error from API', 'The VM info is not available', 'VM is not created');
    const body = { config: this.config, state: this.vm?.state ?? 'Created', memory_actual_size: this.config.memory?.size ?? DEFAULT_MEMORY };
    return { status: 200, body: JSON.stringify(body) };
  }

  private async serial(text: string): Promise<void> {
    const serial = this.config?.serial;
    if (serial?.mode === 'File' && serial.file) await appendFile(serial.file, text);
  }

  private async teardown(): Promise<void> {
    const vm = this.vm;
    this.vm = null;
    if (!vm) return;
    await vm.vsock?.close();
    await vm.guest.stop();
  }
}

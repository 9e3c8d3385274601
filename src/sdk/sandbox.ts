import type { CreateSandboxBody, NetworkBody, Sandbox as SandboxInfo, SandboxList } from '../shared/api/sandbox-schemas.js';
import type { ClientOptions } from './api-transport.js';
import { ExecHandle, type ExecOptions, type ExecOutput, type SpawnOptions } from './exec-handle.js';
import { MicrovmClient } from './microvm-client.js';
import { MicrovmError } from './microvm-error.js';
import { SandboxComputer } from './sandbox-computer.js';
import { SandboxFiles } from './sandbox-files.js';
import { SandboxPorts } from './sandbox-ports.js';
import { SandboxSnapshots } from './sandbox-snapshots.js';
import type { ForkBody, Snapshot } from '../shared/api/snapshot-schemas.js';

export interface SandboxCreateOptions extends ClientOptions {
  /** A DNS label; generated when omitted. */
  name?: string;
  template?: string;
  /** Virtual CPUs. */
  cpus?: number;
  memoryMiB?: number;
  /** Disk size in MiB, for templates with a disk (at least the image's size); the guest's file system grows to it. */
  diskMiB?: number;
  labels?: Record<string, string>;
  hypervisor?: 'auto' | 'qemu' | 'cloud-hypervisor';
  /** `none` (the default): no NIC. `nat`: outbound access from a private address (docs/networking.md). */
  network?: 'none' | 'nat';
  /** What a `nat` sandbox may reach, by IPv4 CIDR: deny wins; a non-empty allow list permits only its CIDRs. */
  egress?: { allow?: string[]; deny?: string[] };
}

export interface LogsOptions {
  /** Only the last N lines. */
  tail?: number;
  /** Keep streaming new console output until the signal aborts. */
  follow?: boolean;
  signal?: AbortSignal;
}

/** One sandbox (a microVM) on a daemon. `await using` destroys it at the end of the scope. */
export class Sandbox implements AsyncDisposable {
  readonly client: MicrovmClient;
  readonly files: SandboxFiles;
  readonly snapshots: SandboxSnapshots;
  /** Screenshots, pointer, keyboard and the VNC console of a sandbox with a display. */
  readonly computer: SandboxComputer;
  /** Host → guest port forwards, through the agent (no guest network needed). */
  readonly ports: SandboxPorts;
  info: SandboxInfo;

  private constructor(client: MicrovmClient, info: SandboxInfo) {
    this.client = client;
    this.info = info;
    this.files = new SandboxFiles(client, () => this.id);
    this.snapshots = new SandboxSnapshots(client, () => this.id, (next) => (this.info = next));
    this.computer = new SandboxComputer(client, () => this.id);
    this.ports = new SandboxPorts(client, () => this.id);
  }

  /**
   * Forks a snapshot (of this or any sandbox) into new sandboxes on the same daemon, all
   * started at once; each runs beside the original with its own identity.
   */
  async fork(snapshot: string | Snapshot, options: ForkBody = {}): Promise<Sandbox[]> {
    return (await this.snapshots.fork(snapshot, options)).map((info) => new Sandbox(this.client, info));
  }

  /** Creates a sandbox and resolves once its guest is ready to run commands. */
  static async create(options: SandboxCreateOptions = {}): Promise<Sandbox> {
    const { socketPath, url, token, cpus, ...rest } = options;
    const client = new MicrovmClient({ socketPath, url, token });
    const body: CreateSandboxBody = { ...rest, ...(cpus === undefined ? {} : { vcpus: cpus }) };
    return new Sandbox(client, await client.request<SandboxInfo>('POST', '/sandboxes', { json: body }));
  }

  /** An existing sandbox, by id or name. */
  static async connect(idOrName: string, options: ClientOptions = {}): Promise<Sandbox> {
    const client = new MicrovmClient(options);
    return new Sandbox(client, await client.request<SandboxInfo>('GET', `/sandboxes/${encodeURIComponent(idOrName)}`));
  }

  static async list(options: ClientOptions = {}): Promise<SandboxInfo[]> {
    return (await new MicrovmClient(options).request<SandboxList>('GET', '/sandboxes')).sandboxes;
  }

  get id(): string {
    return this.info.id;
  }

  get name(): string {
    return this.info.name;
  }

  async refresh(): Promise<SandboxInfo> {
    return (this.info = await this.client.request<SandboxInfo>('GET', this.route('')));
  }

  /**
   * Runs a command to completion, streaming its output to onStdout/onStderr. A string runs
   * as /bin/sh -c, an array as argv. A non-zero exit is a result, not an error.
   */
  async exec(command: string | string[], options: ExecOptions = {}): Promise<ExecOutput> {
    const handle = await ExecHandle.start(this.client, this.id, command, options);
    // The result collects the output; the handle's streams have no reader here.
    handle.stdout.resume();
    handle.stderr.resume();
    return handle.wait();
  }

  /** Starts a background process and resolves once it runs. */
  spawn(command: string | string[], options: SpawnOptions = {}): Promise<ExecHandle> {
    return ExecHandle.start(this.client, this.id, command, options);
  }

  /** The serial console of the current run, as text chunks. */
  async *logs(options: LogsOptions = {}): AsyncGenerator<string> {
    const response = await this.client.stream('GET', this.route('/logs'), {
      query: { tail: options.tail, follow: options.follow },
      ...(options.signal ? { signal: options.signal } : {}),
    });
    response.setEncoding('utf8');
    try {
      for await (const chunk of response as AsyncIterable<string>) yield chunk;
    } catch (error) {
      if (!options.signal?.aborted) throw error;
    } finally {
      response.destroy();
    }
  }

  start(): Promise<SandboxInfo> {
    return this.act('start');
  }

  /** Powers the guest off, giving it timeoutMs before the VMM is ended. */
  stop(options: { timeoutMs?: number } = {}): Promise<SandboxInfo> {
    return this.act('stop', options.timeoutMs === undefined ? undefined : { timeoutMs: options.timeoutMs });
  }

  pause(): Promise<SandboxInfo> {
    return this.act('pause');
  }

  resume(): Promise<SandboxInfo> {
    return this.act('resume');
  }

  restart(options: { timeoutMs?: number } = {}): Promise<SandboxInfo> {
    return this.act('restart', options.timeoutMs === undefined ? undefined : { timeoutMs: options.timeoutMs });
  }

  /**
   * Changes the network mode or egress policy; the sandbox must be stopped. An omitted
   * field keeps its value; a given egress replaces the whole policy.
   */
  async setNetwork(settings: NetworkBody): Promise<SandboxInfo> {
    return (this.info = await this.client.request<SandboxInfo>('PATCH', this.route('/network'), { json: settings }));
  }

  /** Ends the VM and deletes everything the sandbox owns. */
  async destroy(): Promise<void> {
    await this.client.request('DELETE', this.route(''));
  }

  /** destroy(), tolerating a sandbox that is already gone. */
  async [Symbol.asyncDispose](): Promise<void> {
    try {
      await this.destroy();
    } catch (error) {
      if (!(error instanceof MicrovmError && error.code === 'not_found')) throw error;
    }
  }

  private async act(verb: string, json?: { timeoutMs: number }): Promise<SandboxInfo> {
    return (this.info = await this.client.request<SandboxInfo>('POST', this.route(`/${verb}`), json ? { json } : {}));
  }

  private route(suffix: string): string {
    return `/sandboxes/${encodeURIComponent(this.id)}${suffix}`;
  }
}

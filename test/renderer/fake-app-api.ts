import type { SandboxEvent } from '../../src/shared/api/event-schemas';
import type { FileInfo } from '../../src/shared/api/file-schemas';
import type { AddPortBody, PortForward } from '../../src/shared/api/port-schemas';
import type { CreateSandboxBody, Sandbox, SandboxState } from '../../src/shared/api/sandbox-schemas';
import type { Snapshot, SnapshotTree } from '../../src/shared/api/snapshot-schemas';
import type { SystemInfo } from '../../src/shared/api/system-schemas';
import type { Template } from '../../src/shared/api/template-schemas';
import type { UsageList } from '../../src/shared/api/usage-schemas';
import {
  AppError,
  type AppApi,
  type AppErrorInfo,
  type AppInfo,
  type DisplayConnection,
  type DisplayEvent,
  type DisplayInfo,
  type LifecycleAction,
  type TerminalEvent,
  type TerminalOptions,
  type TerminalSession,
  type Unsubscribe,
  type UploadItem,
  type UploadJob,
  type UploadProgress,
  type UploadSummary,
} from '../../src/shared/app-contract';

/**
 * The AppApi in memory: the one fake of the renderer tests, standing where a transport
 * would. It keeps sandboxes, files and snapshots, records every call, and lets a test
 * emit events, feed terminals and consoles, drive uploads and make the next call fail.
 */

export interface RecordedCall {
  method: keyof AppApi;
  args: unknown[];
}

export interface FakeTerminal {
  sandboxId: string;
  options: TerminalOptions;
  written: string[];
  resizes: Array<[number, number]>;
  closed: boolean;
  emit(event: TerminalEvent): void;
  output(text: string): void;
}

export interface FakeDisplayConnection {
  sandboxId: string;
  sent: Uint8Array[];
  closed: boolean;
  emit(event: DisplayEvent): void;
}

export interface FakeConsole {
  sandboxId: string;
  closed: boolean;
  write(text: string): void;
  end(error: AppErrorInfo | null): void;
}

export interface FakeUpload {
  sandboxId: string;
  destDir: string;
  items: UploadItem[];
  cancelled: number[];
  progress(index: number, loaded: number): void;
  fail(index: number, message: string): void;
  /** Every file not yet cancelled or failed is done; result() settles. */
  finish(): void;
}

const NOW = Date.parse('2025-01-02T03:04:05Z');

export function makeSandbox(name: string, state: SandboxState = 'running', extra: Partial<Sandbox> = {}): Sandbox {
  return {
    id: `id-${name}`,
    name,
    template: 'minimal',
    hypervisor: 'qemu',
    vcpus: 1,
    memoryMiB: 256,
    labels: {},
    network: 'none',
    egress: { allow: [], deny: [] },
    state,
    stateReason: null,
    currentSnapshotId: null,
    createdAt: new Date(NOW).toISOString(),
    updatedAt: new Date(NOW).toISOString(),
    ...extra,
  };
}

export function makeSnapshot(sandboxId: string, name: string, parentId: string | null, extra: Partial<Snapshot> = {}): Snapshot {
  return {
    id: `snap-${name}`,
    sandboxId,
    parentId,
    name,
    description: '',
    createdAt: new Date(NOW).toISOString(),
    hypervisor: 'qemu',
    vmmVersion: '8.2',
    template: 'minimal',
    vcpus: 1,
    memoryMiB: 256,
    stateBytes: 1024 * 1024,
    diskBytes: 4 * 1024 * 1024,
    pauseMs: 12,
    files: [],
    thumbnail: null,
    current: false,
    ...extra,
  };
}

export function makeEntry(path: string, type: FileInfo['type'] = 'file', size = 10): FileInfo {
  return { name: path.slice(path.lastIndexOf('/') + 1), path, type, size, mode: 0o644, mtime: new Date(NOW).toISOString() };
}

function parentOf(path: string): string {
  const cut = path.lastIndexOf('/');
  return cut <= 0 ? '/' : path.slice(0, cut);
}

export class FakeAppApi implements AppApi {
  readonly calls: RecordedCall[] = [];
  readonly sandboxes = new Map<string, Sandbox>();
  readonly files = new Map<string, Map<string, FileInfo>>();
  readonly snapshots = new Map<string, { current: string | null; list: Snapshot[] }>();
  readonly terminals: FakeTerminal[] = [];
  readonly consoles: FakeConsole[] = [];
  readonly uploads: FakeUpload[] = [];
  /** What display() answers per sandbox id; no display when absent. */
  readonly displays = new Map<string, DisplayInfo>();
  readonly displayConnections: FakeDisplayConnection[] = [];
  /** Port forwards by host port. */
  readonly ports = new Map<number, PortForward>();
  templateList: Template[] = [
    {
      name: 'minimal',
      description: 'Busybox and the agent',
      kind: 'initramfs',
      source: 'builtin',
      defaults: { vcpus: 1, memoryMiB: 256, diskMiB: null },
      display: null,
      built: true,
      default: true,
      sizeBytes: 20_000_000,
    },
    {
      name: 'python',
      description: 'Python 3',
      kind: 'rootfs',
      source: 'user',
      defaults: { vcpus: 2, memoryMiB: 1024, diskMiB: 4096 },
      display: null,
      built: false,
      default: false,
      sizeBytes: null,
    },
  ];
  systemInfo: SystemInfo = {
    version: '0.1.0',
    hypervisor: { configured: 'auto', chosen: 'qemu', reason: 'no KVM', kvm: false, qemuAccel: 'tcg' },
    limits: { maxSandboxes: 64, maxVcpusPerSandbox: 4, maxMemoryMiBPerSandbox: 8192, memoryReserveMiB: 1024 },
    host: { cpus: 2, memoryTotalMiB: 24_000, memoryAvailableMiB: 20_000, diskFreeBytes: 10e9 },
  };
  /** Readings usage() answers in turn; the last one repeats. */
  usageReadings: UsageList[] = [];
  /** While set, createSandbox announces "creating" and waits for it before "running". */
  createGate: Promise<void> | null = null;
  private readonly failures = new Map<keyof AppApi, AppError>();
  private readonly eventListeners = new Set<{ onEvent: (event: SandboxEvent) => void; onConnection?: (connected: boolean) => void }>();

  constructor(sandboxes: Sandbox[] = []) {
    for (const sandbox of sandboxes) this.sandboxes.set(sandbox.id, sandbox);
  }

  /** The next call of `method` rejects with this error. */
  failNext(method: keyof AppApi, code: string, message: string): void {
    this.failures.set(method, new AppError(code, message));
  }

  callsTo(method: keyof AppApi): unknown[][] {
    return this.calls.filter((call) => call.method === method).map((call) => call.args);
  }

  emit(event: SandboxEvent): void {
    for (const listener of this.eventListeners) listener.onEvent(event);
  }

  setConnected(connected: boolean): void {
    for (const listener of this.eventListeners) listener.onConnection?.(connected);
  }

  get watchers(): number {
    return this.eventListeners.size;
  }

  addFiles(sandboxId: string, entries: FileInfo[]): void {
    const tree = this.files.get(sandboxId) ?? new Map<string, FileInfo>();
    for (const entry of entries) tree.set(entry.path, entry);
    this.files.set(sandboxId, tree);
  }

  setSnapshots(sandboxId: string, list: Snapshot[], current: string | null): void {
    this.snapshots.set(sandboxId, { list, current });
  }

  private record(method: keyof AppApi, args: unknown[]): void {
    this.calls.push({ method, args });
    const failure = this.failures.get(method);
    if (failure) {
      this.failures.delete(method);
      throw failure;
    }
  }

  private sandbox(id: string): Sandbox {
    const found = this.sandboxes.get(id) ?? [...this.sandboxes.values()].find((sandbox) => sandbox.name === id);
    if (!found) throw new AppError('not_found', `no sandbox with id or name "${id}"`);
    return found;
  }

  private setState(sandbox: Sandbox, state: SandboxState, reason: string | null = null): Sandbox {
    const next = { ...sandbox, state, stateReason: reason };
    this.sandboxes.set(sandbox.id, next);
    this.emit({ type: 'state', id: sandbox.id, name: sandbox.name, state, reason, at: Date.now() });
    return next;
  }

  async appInfo(): Promise<AppInfo> {
    this.record('appInfo', []);
    return { name: 'MicroVM Sandbox', version: '0.1.0', shell: 'browser', daemon: 'http://127.0.0.1:7777' };
  }

  async system(): Promise<SystemInfo> {
    this.record('system', []);
    return this.systemInfo;
  }

  async templates(): Promise<Template[]> {
    this.record('templates', []);
    return this.templateList;
  }

  async listSandboxes(): Promise<Sandbox[]> {
    this.record('listSandboxes', []);
    return [...this.sandboxes.values()];
  }

  async createSandbox(request: CreateSandboxBody): Promise<Sandbox> {
    this.record('createSandbox', [request]);
    const name = request.name ?? `sandbox-${this.sandboxes.size + 1}`;
    if ([...this.sandboxes.values()].some((sandbox) => sandbox.name === name)) throw new AppError('already_exists', `a sandbox named "${name}" already exists`);
    const created = makeSandbox(name, 'creating', { template: request.template ?? 'minimal', vcpus: request.vcpus ?? 1, memoryMiB: request.memoryMiB ?? 256 });
    this.sandboxes.set(created.id, created);
    this.emit({ type: 'state', id: created.id, name, state: 'creating', reason: null, at: Date.now() });
    if (this.createGate) await this.createGate;
    return this.setState(created, 'running');
  }

  async sandboxAction(id: string, action: LifecycleAction): Promise<Sandbox> {
    this.record('sandboxAction', [id, action]);
    const next: Record<LifecycleAction, SandboxState> = { start: 'running', stop: 'stopped', pause: 'paused', resume: 'running', restart: 'running' };
    return this.setState(this.sandbox(id), next[action]);
  }

  async deleteSandbox(id: string): Promise<void> {
    this.record('deleteSandbox', [id]);
    const sandbox = this.sandbox(id);
    this.sandboxes.delete(sandbox.id);
    this.emit({ type: 'state', id: sandbox.id, name: sandbox.name, state: 'stopped', reason: 'destroyed', at: Date.now() });
  }

  async usage(): Promise<UsageList> {
    this.record('usage', []);
    const reading = this.usageReadings.length > 1 ? this.usageReadings.shift() : this.usageReadings[0];
    return reading ?? { at: Date.now(), sandboxes: [] };
  }

  watchEvents(onEvent: (event: SandboxEvent) => void, onConnection?: (connected: boolean) => void): Unsubscribe {
    this.record('watchEvents', []);
    const listener = { onEvent, onConnection };
    this.eventListeners.add(listener);
    queueMicrotask(() => onConnection?.(true));
    return () => this.eventListeners.delete(listener);
  }

  openTerminal(id: string, options: TerminalOptions, onEvent: (event: TerminalEvent) => void): TerminalSession {
    this.record('openTerminal', [id, options]);
    const terminal: FakeTerminal = {
      sandboxId: id,
      options,
      written: [],
      resizes: [],
      closed: false,
      emit: onEvent,
      output: (text) => onEvent({ type: 'output', data: new TextEncoder().encode(text) }),
    };
    this.terminals.push(terminal);
    return {
      write: (data) => terminal.written.push(data),
      resize: (cols, rows) => terminal.resizes.push([cols, rows]),
      close: () => {
        terminal.closed = true;
      },
    };
  }

  followConsole(id: string, onData: (text: string) => void, onEnd?: (error: AppErrorInfo | null) => void): Unsubscribe {
    this.record('followConsole', [id]);
    const follower: FakeConsole = {
      sandboxId: id,
      closed: false,
      write: (text) => {
        if (!follower.closed) onData(text);
      },
      end: (error) => onEnd?.(error),
    };
    this.consoles.push(follower);
    return () => {
      follower.closed = true;
    };
  }

  async listFiles(id: string, path: string): Promise<FileInfo[]> {
    this.record('listFiles', [id, path]);
    const tree = this.files.get(this.sandbox(id).id) ?? new Map<string, FileInfo>();
    const directory = tree.get(path);
    if (path !== '/' && directory?.type !== 'dir') throw new AppError('not_found', `${path}: no such directory`);
    return [...tree.values()].filter((entry) => entry.path !== path && parentOf(entry.path) === path);
  }

  async makeDirectory(id: string, path: string): Promise<void> {
    this.record('makeDirectory', [id, path]);
    this.addFiles(this.sandbox(id).id, [makeEntry(path, 'dir', 0)]);
  }

  async removePath(id: string, path: string): Promise<void> {
    this.record('removePath', [id, path]);
    const tree = this.files.get(this.sandbox(id).id);
    for (const key of [...(tree?.keys() ?? [])]) if (key === path || key.startsWith(`${path}/`)) tree?.delete(key);
  }

  async downloadFile(id: string, path: string): Promise<void> {
    this.record('downloadFile', [id, path]);
  }

  uploadFiles(id: string, destDir: string, items: UploadItem[], onProgress: (progress: UploadProgress) => void): UploadJob {
    this.record('uploadFiles', [id, destDir, items]);
    const states: UploadProgress[] = items.map((item, index) => ({ index, relativePath: item.relativePath, loaded: 0, total: item.file.size, state: 'queued' }));
    let settle!: (summary: UploadSummary) => void;
    const result = new Promise<UploadSummary>((resolve) => (settle = resolve));
    const change = (index: number, patch: Partial<UploadProgress>) => {
      const state = states[index];
      if (!state) throw new Error(`no upload ${index}`);
      Object.assign(state, patch);
      onProgress({ ...state });
    };
    const settleIfDone = () => {
      if (states.some((state) => state.state === 'queued' || state.state === 'uploading')) return;
      settle({
        done: states.filter((state) => state.state === 'done').length,
        failed: states.filter((state) => state.state === 'failed').length,
        cancelled: states.filter((state) => state.state === 'cancelled').length,
      });
    };
    const upload: FakeUpload = {
      sandboxId: id,
      destDir,
      items,
      cancelled: [],
      progress: (index, loaded) => change(index, { loaded, state: 'uploading' }),
      fail: (index, message) => {
        change(index, { state: 'failed', error: message });
        settleIfDone();
      },
      finish: () => {
        for (const state of states) {
          if (state.state === 'queued' || state.state === 'uploading') change(state.index, { loaded: state.total, state: 'done' });
        }
        const tree = this.files.get(id);
        for (const item of items) tree?.set(`${destDir}/${item.relativePath}`, makeEntry(`${destDir}/${item.relativePath}`, 'file', item.file.size));
        settleIfDone();
      },
    };
    this.uploads.push(upload);
    return {
      cancel: (index) => {
        for (const state of states) {
          if ((index === undefined || state.index === index) && (state.state === 'queued' || state.state === 'uploading')) {
            upload.cancelled.push(state.index);
            change(state.index, { state: 'cancelled' });
          }
        }
        settleIfDone();
      },
      result: () => result,
    };
  }

  async snapshotTree(id: string): Promise<SnapshotTree> {
    this.record('snapshotTree', [id]);
    const sandbox = this.sandbox(id);
    const held = this.snapshots.get(sandbox.id) ?? { current: null, list: [] };
    return { sandboxId: sandbox.id, current: held.current, snapshots: held.list.map((snapshot) => ({ ...snapshot, current: snapshot.id === held.current })) };
  }

  async takeSnapshot(id: string, name?: string): Promise<Snapshot> {
    this.record('takeSnapshot', [id, name]);
    const sandbox = this.sandbox(id);
    const held = this.snapshots.get(sandbox.id) ?? { current: null, list: [] };
    const snapshot = makeSnapshot(sandbox.id, name ?? `snap-${held.list.length + 1}`, held.current);
    this.snapshots.set(sandbox.id, { current: snapshot.id, list: [...held.list, snapshot] });
    return snapshot;
  }

  async restoreSnapshot(id: string, snapshotId: string): Promise<Sandbox> {
    this.record('restoreSnapshot', [id, snapshotId]);
    const sandbox = this.sandbox(id);
    const held = this.snapshots.get(sandbox.id);
    if (!held?.list.some((snapshot) => snapshot.id === snapshotId)) throw new AppError('not_found', `no snapshot ${snapshotId}`);
    held.current = snapshotId;
    return sandbox;
  }

  async forkSnapshot(id: string, snapshotId: string, name?: string): Promise<Sandbox> {
    this.record('forkSnapshot', [id, snapshotId, name]);
    this.sandbox(id);
    const fork = makeSandbox(name ?? `fork-${this.sandboxes.size + 1}`);
    this.sandboxes.set(fork.id, fork);
    this.emit({ type: 'state', id: fork.id, name: fork.name, state: 'running', reason: null, at: Date.now() });
    return fork;
  }

  async deleteSnapshot(id: string, snapshotId: string): Promise<void> {
    this.record('deleteSnapshot', [id, snapshotId]);
    const sandbox = this.sandbox(id);
    const held = this.snapshots.get(sandbox.id);
    if (held) held.list = held.list.filter((snapshot) => snapshot.id !== snapshotId);
  }

  async display(id: string): Promise<DisplayInfo> {
    this.record('display', [id]);
    const sandbox = this.sandbox(id);
    return this.displays.get(sandbox.id) ?? { available: false, reason: 'this template has no display' };
  }

  openDisplay(id: string, onEvent: (event: DisplayEvent) => void): DisplayConnection {
    this.record('openDisplay', [id]);
    const connection: FakeDisplayConnection = { sandboxId: id, sent: [], closed: false, emit: onEvent };
    this.displayConnections.push(connection);
    return {
      send: (data) => connection.sent.push(data),
      close: () => {
        connection.closed = true;
      },
    };
  }

  async listPorts(id: string): Promise<PortForward[]> {
    this.record('listPorts', [id]);
    const sandbox = this.sandbox(id);
    return [...this.ports.values()].filter((forward) => forward.sandboxId === sandbox.id).sort((a, b) => a.hostPort - b.hostPort);
  }

  async addPort(id: string, request: AddPortBody): Promise<PortForward> {
    this.record('addPort', [id, request]);
    const sandbox = this.sandbox(id);
    const hostPort = request.hostPort || 40_000 + this.ports.size;
    if (this.ports.has(hostPort)) throw new AppError('port_in_use', `hostPort: 127.0.0.1:${hostPort} is already in use on this host`);
    const address = request.address ?? '127.0.0.1';
    const forward: PortForward = {
      sandboxId: sandbox.id,
      sandboxName: sandbox.name,
      guestPort: request.guestPort,
      hostPort,
      address,
      url: `http://${address}:${hostPort}`,
      createdAt: new Date(NOW).toISOString(),
    };
    this.ports.set(hostPort, forward);
    return forward;
  }

  async removePort(id: string, hostPort: number): Promise<void> {
    this.record('removePort', [id, hostPort]);
    const sandbox = this.sandbox(id);
    if (this.ports.get(hostPort)?.sandboxId !== sandbox.id) throw new AppError('not_found', `sandbox "${sandbox.name}" has no port forward on host port ${hostPort}`);
    this.ports.delete(hostPort);
  }
}

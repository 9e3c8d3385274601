import { randomBytes, randomUUID } from 'node:crypto';
import type { SandboxEvent } from '../../../shared/api/event-schemas.js';
import { EventEmitter } from 'node:events';
import { mkdir, readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { AgentClient } from '../agent/agent-client.js';
import type { AppConfig } from '../config/app-config.js';
import { SandboxError } from '../errors/sandbox-error.js';
import { chooseHypervisor } from '../hypervisor/hypervisor-choice.js';
import type { HypervisorDriver, HypervisorKind, RunningVm, VmExit, VmLaunchSpec, VmNic, VmSnapshot } from '../hypervisor/hypervisor-driver.js';
import { withSerialTail } from '../hypervisor/serial-log.js';
import type { ProgressListener } from '../build/progress.js';
import type { MinimalImage } from '../images/minimal-image-builder.js';
import { TemplateCatalog } from '../images/template-catalog.js';
import { vmmUsage, type VmmUsage } from '../hypervisor/vmm-usage.js';
import { appPaths } from '../paths/app-paths.js';
import type { SandboxRecord, SandboxState, SandboxStore } from '../store/sandbox-store.js';
import { isValidSandboxName, validateCreateRequest, type CreateSandboxRequest, type ValidCreateRequest } from './create-request.js';
import { copyDisk, createOverlay, DISK_FILE, PARTIAL_DISK } from './sandbox-disk.js';
import { captureVm, splitSizes } from '../snapshots/disk-capture.js';
import { snapshotThumbnail } from '../computer/snapshot-thumbnail.js';
import { assignGuestIdentity } from './guest-identity.js';
import { SnapshotFiles } from '../snapshots/snapshot-files.js';
import { planRetention } from '../snapshots/snapshot-retention.js';
import { WarmStartCache, type WarmStartKey } from '../snapshots/warm-start-cache.js';
import type { SnapshotBoot, SnapshotRecord } from '../store/snapshot-store.js';
import { SANDBOX_STATES } from '../store/sandbox-store.js';
import { hostMemAvailableMiB, processesMentioning } from './host-resources.js';
import type { NetAdmin } from '../network/net-admin.js';
import { availableNetAdmin } from '../network/net-admin-choice.js';
import { validateNetworkSettings, type Egress, type NetworkMode } from '../network/network-mode.js';
import { SandboxNetwork, type GuestNetwork } from '../network/sandbox-network.js';

/** What the manager announces: the events stream's one definition, in src/shared/api. */
export type { SandboxEvent } from '../../../shared/api/event-schemas.js';

export interface StopOptions {
  /** How long the guest gets to power off before the VMM is ended. */
  timeoutMs?: number;
}

export interface SandboxManagerOptions {
  store: SandboxStore;
  config: AppConfig;
  drivers: Partial<Record<HypervisorKind, HypervisorDriver>>;
  /** Where per-VM runtime directories live; defaults to the XDG runtime directory. */
  runRoot?: string;
  /** Where snapshots are kept; defaults to `snapshots/` in the data directory. */
  snapshotRoot?: string;
  /** Where each sandbox's own files (its disk) are kept; defaults to `sandboxes/` in the data directory. */
  sandboxRoot?: string;
  templates?: TemplateCatalog;
  /** The privileged network operations for `nat` on a TAP; null: none (user mode). Chosen from the host when omitted. */
  netAdmin?: NetAdmin | null;
}

export interface NetworkChange {
  network?: NetworkMode;
  /** Replaces the whole policy; the current one is kept when omitted. */
  egress?: Partial<Egress>;
}

export interface SnapshotRequest {
  name?: string;
  description?: string;
}

export interface TakenSnapshot {
  snapshot: SnapshotRecord;
  /** Snapshots retention deleted to stay within the configured limits. */
  deleted: SnapshotRecord[];
  /** Set when retention had to keep snapshots over the limits (ancestors of a current state). */
  retentionNote: string | null;
}

export interface SnapshotTree {
  /** The snapshot the sandbox's current state descends from; null before its first snapshot. */
  current: string | null;
  /** Oldest first; a snapshot's parent may belong to another sandbox (the one this was forked from). */
  snapshots: SnapshotRecord[];
}

export interface ForkRequest {
  /** One new sandbox per name; generated names when only `count` is given. */
  names?: string[];
  count?: number;
}

/** How a VM is brought up: booted from its image, or restored from a saved state. */
type VmSource =
  | { kind: 'boot'; image: MinimalImage }
  | {
      kind: 'restore';
      dir: string;
      boot: SnapshotBoot;
      /** The snapshot that becomes the sandbox's position; null for a warm start, which is not in any tree. */
      snapshot: SnapshotRecord | null;
      label: string;
      freshIdentity: boolean;
    };

const AGENT_DEADLINE_MS = 120_000;
const LIVE: readonly SandboxState[] = ['running', 'paused'];

interface Live {
  vm: RunningVm;
  /** What the guest was booted with; unknown for a VM adopted from an earlier daemon. */
  boot: SnapshotBoot | null;
  agent: Promise<AgentClient> | null;
  /** Set when the manager itself ends the VM, so its exit is not reported as a crash. */
  expectedExit: 'stop' | 'destroy' | null;
}

/**
 * Owns the lifecycle of every sandbox: the one place that starts, stops and watches VMM
 * processes. Every state change is written to the store before it is announced, and on
 * open the manager reconciles the store with the processes that really exist.
 */
export class SandboxManager extends EventEmitter {
  private readonly live = new Map<string, Live>();
  private readonly locks = new Map<string, Promise<unknown>>();
  private readonly runRoot: string;
  private readonly sandboxRoot: string;
  readonly templates: TemplateCatalog;
  private readonly snapshotFiles: SnapshotFiles;
  private readonly warmStarts = new WarmStartCache();
  readonly network: SandboxNetwork;

  private constructor(private readonly options: SandboxManagerOptions, netAdmin: NetAdmin | null) {
    super();
    this.network = new SandboxNetwork({ config: options.config, leases: options.store.leases, netAdmin });
    this.runRoot = options.runRoot ?? join(appPaths().runtime, 'vms');
    this.sandboxRoot = options.sandboxRoot ?? join(appPaths().data, 'sandboxes');
    this.templates = options.templates ?? new TemplateCatalog();
    this.snapshotFiles = new SnapshotFiles(options.snapshotRoot);
  }

  static async open(options: SandboxManagerOptions): Promise<SandboxManager> {
    const manager = new SandboxManager(options, options.netAdmin === undefined ? await availableNetAdmin() : options.netAdmin);
    await mkdir(manager.runRoot, { recursive: true, mode: 0o700 });
    await mkdir(manager.sandboxRoot, { recursive: true, mode: 0o700 });
    await manager.reconcile();
    return manager;
  }

  list(): SandboxRecord[] {
    return this.options.store.list();
  }

  get(idOrName: string): SandboxRecord {
    const record = this.options.store.get(idOrName) ?? this.options.store.getByName(idOrName);
    if (!record) throw new SandboxError('not_found', `no sandbox with id or name "${idOrName}"`);
    return record;
  }

  async create(request: CreateSandboxRequest): Promise<SandboxRecord> {
    const { config, store } = this.options;
    const template = request.template ?? (await this.templates.defaultName(config.defaults.template));
    const sizes = this.templates.definition(template).defaults;
    const valid = validateCreateRequest(request, config, {
      template,
      vcpus: config.defaults.vcpus ?? sizes.vcpus,
      memoryMiB: config.defaults.memoryMiB ?? sizes.memoryMiB,
    });
    if (store.getByName(valid.name)) throw new SandboxError('already_exists', `a sandbox named "${valid.name}" already exists`);
    if (store.list().length >= config.limits.maxSandboxes) {
      throw new SandboxError('limit_reached', `the limit of ${config.limits.maxSandboxes} sandboxes is reached (config key limits.maxSandboxes)`);
    }
    await this.admitMemory(valid.memoryMiB);
    const image = await this.buildTemplate(valid.template, valid.name);
    const diskMiB = await diskSize(image, valid);
    const hypervisor = (await chooseHypervisor(valid.hypervisor, config, image.kernel)).chosen;
    this.driver(hypervisor);
    this.network.check(valid, hypervisor);

    const record = store.insert({
      id: randomUUID(),
      name: valid.name,
      template: valid.template,
      hypervisor,
      vcpus: valid.vcpus,
      memoryMiB: valid.memoryMiB,
      diskMiB,
      labels: valid.labels,
      network: valid.network,
      egress: valid.egress,
    });
    this.announce(record);
    // Warm states are saved without a NIC, so only sandboxes without network start from one.
    if (!config.snapshots.warmStart || valid.network !== 'none') return this.locked(record.id, () => this.boot(record, { kind: 'boot', image }, ['creating']));
    const key: WarmStartKey = { imageDir: image.dir, hypervisor, vcpus: valid.vcpus, memoryMiB: valid.memoryMiB, diskMiB };
    return this.locked(record.id, async () => {
      const warm = await this.warmStarts.find(key);
      if (warm) {
        const source: VmSource = { kind: 'restore', dir: warm.dir, boot: warm.boot, snapshot: null, label: 'the warm-start state', freshIdentity: true };
        return this.boot(record, source, ['creating']).catch(async () => {
          // A warm state this VMM cannot load is dropped, and the sandbox boots instead.
          await this.warmStarts.discard(key);
          return this.boot(this.get(record.id), { kind: 'boot', image }, ['error']);
        });
      }
      const booted = await this.boot(record, { kind: 'boot', image }, ['creating']);
      const live = this.live.get(record.id);
      if (live?.boot) {
        const disk = this.diskOf(booted);
        if (disk) await this.flushGuestDisk(booted, live);
        await this.warmStarts.capture(key, live.vm, live.boot, disk).catch(() => undefined);
      }
      return booted;
    });
  }

  async start(id: string): Promise<SandboxRecord> {
    const record = this.get(id);
    return this.locked(record.id, async () => {
      const current = this.get(record.id);
      const from: SandboxState[] = ['stopped', 'crashed', 'error'];
      if (!from.includes(current.state)) throw wrongState(current, 'start');
      return this.boot(current, { kind: 'boot', image: await this.templates.image(current.template) }, from);
    });
  }

  async stop(id: string, options: StopOptions = {}): Promise<SandboxRecord> {
    const record = this.get(id);
    return this.locked(record.id, () => this.stopLocked(record.id, options));
  }

  async pause(id: string): Promise<SandboxRecord> {
    return this.change(id, 'pause', ['running'], 'paused', (live) => live.vm.pause());
  }

  async resume(id: string): Promise<SandboxRecord> {
    return this.change(id, 'resume', ['paused'], 'running', async (live) => {
      await live.vm.resume();
      await (await this.agentOf(id, live)).ping();
    });
  }

  async restart(id: string, options: StopOptions = {}): Promise<SandboxRecord> {
    await this.stop(id, options);
    return this.start(id);
  }

  async destroy(id: string): Promise<void> {
    const record = this.get(id);
    return this.locked(record.id, async () => {
      const live = this.live.get(record.id);
      if (live) {
        live.expectedExit = 'destroy';
        await live.vm.kill();
        await this.release(record.id, live);
      }
      await rm(this.runDir(record.id), { recursive: true, force: true });
      await rm(this.sandboxDir(record.id), { recursive: true, force: true });
      this.options.store.delete(record.id);
      await this.snapshotFiles.removeSandbox(record.id);
      this.emit('event', { type: 'state', id: record.id, name: record.name, state: 'stopped', reason: 'destroyed', at: Date.now() } satisfies SandboxEvent);
    });
  }

  /**
   * Changes a sandbox's network mode or egress policy. Only while no VM runs: the NIC
   * is part of the machine, and its rules are set when the VM starts.
   */
  async setNetwork(id: string, change: NetworkChange): Promise<SandboxRecord> {
    const record = this.get(id);
    return this.locked(record.id, async () => {
      const current = this.get(record.id);
      const settings = validateNetworkSettings(
        { network: change.network, egress: change.egress ?? (change.network === 'none' ? { allow: [], deny: [] } : undefined) },
        { network: current.network, egress: current.egress },
      );
      this.network.check(settings, current.hypervisor);
      return this.options.store.setNetwork(current.id, settings, ['stopped', 'crashed', 'error']);
    });
  }

  /** The connected agent of a running sandbox. */
  async agent(id: string): Promise<AgentClient> {
    const record = this.get(id);
    const live = this.live.get(record.id);
    if (!live || record.state !== 'running') throw wrongState(record, 'reach the agent of');
    return this.agentOf(record.id, live);
  }

  /**
   * Builds a template's image if its inputs changed, announcing progress on the event
   * stream (under `name`: the sandbox waiting for it, or the template itself).
   */
  buildTemplate(template: string, name = template, onProgress?: ProgressListener, options: { recheck?: boolean } = {}): Promise<MinimalImage> {
    return this.templates.image(
      template,
      (e) => {
        onProgress?.(e);
        this.emit('event', { type: 'progress', id: '', name, step: e.step, message: e.message, fraction: e.fraction } satisfies SandboxEvent);
      },
      options,
    );
  }

  /** The serial console log of a sandbox's current run, or null when no VMM runs. */
  serialLogPath(id: string): string | null {
    return this.live.get(this.get(id).id)?.vm.handle.serialLog ?? null;
  }

  /** What a sandbox's VMM process costs the host; null when none runs. */
  async usage(id: string): Promise<VmmUsage | null> {
    const live = this.live.get(this.get(id).id);
    return live ? vmmUsage(live.vm.handle.pid) : null;
  }

  /**
   * Captures a running or paused sandbox's memory, devices and disks. The guest is paused
   * only for the capture; the snapshot becomes the sandbox's position in its tree, and
   * retention then trims the oldest snapshots beyond the configured limits.
   */
  async snapshot(id: string, request: SnapshotRequest = {}): Promise<TakenSnapshot> {
    const record = this.get(id);
    return this.locked(record.id, async () => {
      const current = this.get(record.id);
      const live = this.live.get(current.id);
      if (!live || !LIVE.includes(current.state)) throw wrongState(current, 'snapshot');
      const { store } = this.options;
      const own = store.snapshots.ofSandbox(current.id);
      const name = request.name ?? nextSnapshotName(own.map((s) => s.name));
      if (!isValidSnapshotName(name)) {
        throw new SandboxError('invalid_argument', `name: "${name}" is not a valid snapshot name: use 1-64 letters, digits, spaces and . _ -`, { field: 'name' });
      }
      if (own.some((s) => s.name === name)) throw new SandboxError('already_exists', `name: sandbox "${current.name}" already has a snapshot named "${name}"`, { field: 'name' });
      const disk = this.diskOf(current);
      const diskBytes = disk ? (await stat(disk)).size : 0;
      await this.snapshotFiles.ensureSpace(current.memoryMiB * 1024 * 1024 + diskBytes);

      // Taken first: the capture pauses the VM, and a paused guest draws nothing.
      const thumbnail = current.state === 'running' ? await snapshotThumbnail(this, current.id) : null;
      const snapshotId = randomUUID();
      const partial = await this.snapshotFiles.begin(current.id, snapshotId);
      let saved: VmSnapshot;
      try {
        if (disk) await this.flushGuestDisk(current, live);
        saved = await captureVm(live.vm, partial, disk);
        await this.snapshotFiles.commit(current.id, snapshotId);
      } catch (error) {
        await this.snapshotFiles.abandon(current.id, snapshotId);
        throw error;
      }
      const snapshot = store.snapshots.insert({
        id: snapshotId,
        sandboxId: current.id,
        parentId: current.currentSnapshotId,
        name,
        description: request.description ?? '',
        createdAt: Date.now(),
        hypervisor: current.hypervisor,
        vmmVersion: saved.vmmVersion,
        template: current.template,
        vcpus: current.vcpus,
        memoryMiB: current.memoryMiB,
        boot: live.boot ?? { ...bootOf(await this.templates.image(current.template), current.diskMiB), ...(await this.adoptedGuestNetwork(current)) },
        ...splitSizes(saved.files),
        pauseMs: saved.pauseMs,
        files: saved.files,
        thumbnail,
      });
      this.announceSnapshot(current, snapshot, 'created');
      const { deleted, note } = await this.applyRetention(current.id);
      return { snapshot, deleted, retentionNote: note };
    });
  }

  /** A sandbox's snapshots and its current position among them. */
  snapshotTree(id: string): SnapshotTree {
    const record = this.get(id);
    return { current: record.currentSnapshotId, snapshots: this.options.store.snapshots.ofSandbox(record.id) };
  }

  getSnapshot(snapshotId: string): SnapshotRecord {
    const snapshot = this.options.store.snapshots.get(snapshotId);
    if (!snapshot) throw new SandboxError('not_found', `no snapshot with id "${snapshotId}"`);
    return snapshot;
  }

  /**
   * Backtracks a sandbox to one of its snapshots: files, processes and memory as they
   * were. The snapshot's files are verified first, so a corrupt or missing one refuses
   * the restore with the sandbox untouched; then the VMM is replaced by one restored from
   * the snapshot, the agent reconnects and the guest clock is resynced.
   */
  async restoreSnapshot(id: string, snapshotId: string): Promise<SandboxRecord> {
    const record = this.get(id);
    return this.locked(record.id, async () => {
      const current = this.get(record.id);
      const snapshot = this.getSnapshot(snapshotId);
      if (snapshot.sandboxId !== current.id) {
        throw new SandboxError('invalid_argument', `snapshot "${snapshot.name}" belongs to another sandbox; fork it to get a sandbox from it`, { field: 'snapshotId' });
      }
      if (current.state === 'creating' || current.state === 'stopping') throw wrongState(current, 'restore a snapshot of');
      const dir = await this.snapshotFiles.verify(current.id, snapshot.id, snapshot.files, `"${snapshot.name}"`);
      const live = this.live.get(current.id);
      if (live) {
        live.expectedExit = 'stop';
        await live.vm.kill();
        await this.release(current.id, live);
      }
      const restored = await this.boot(current, { kind: 'restore', dir, boot: snapshot.boot, snapshot, label: `snapshot "${snapshot.name}"`, freshIdentity: false }, SANDBOX_STATES);
      this.announceSnapshot(restored, snapshot, 'restored');
      return restored;
    });
  }

  /**
   * New sandboxes from a snapshot, running beside the original with their own VMM,
   * sockets and identity (hostname, machine id, random seed). All forks start at once.
   */
  async fork(snapshotId: string, request: ForkRequest = {}): Promise<SandboxRecord[]> {
    const snapshot = this.getSnapshot(snapshotId);
    const origin = this.options.store.get(snapshot.sandboxId);
    const count = request.names?.length ?? request.count ?? 1;
    if (!Number.isInteger(count) || count < 1 || count > 16) throw new SandboxError('invalid_argument', `count: ${count} is out of range: 1 to 16`, { field: 'count' });
    const names = request.names ?? Array.from({ length: count }, () => `${(origin?.name ?? 'fork').slice(0, 50)}-${randomBytes(3).toString('hex')}`);
    for (const name of names) {
      if (!isValidSandboxName(name)) throw new SandboxError('invalid_argument', `names: "${name}" is not a valid sandbox name`, { field: 'names' });
      if (this.options.store.getByName(name)) throw new SandboxError('already_exists', `names: a sandbox named "${name}" already exists`, { field: 'names' });
    }
    if (this.options.store.list().length + names.length > this.options.config.limits.maxSandboxes) {
      throw new SandboxError('limit_reached', `the limit of ${this.options.config.limits.maxSandboxes} sandboxes is reached (config key limits.maxSandboxes)`);
    }
    await this.admitMemory(snapshot.memoryMiB * names.length);
    const dir = await this.snapshotFiles.verify(snapshot.sandboxId, snapshot.id, snapshot.files, `"${snapshot.name}"`);
    return Promise.all(
      names.map((name) => {
        const record = this.options.store.insert({
          id: randomUUID(),
          name,
          template: snapshot.template,
          hypervisor: snapshot.hypervisor,
          vcpus: snapshot.vcpus,
          memoryMiB: snapshot.memoryMiB,
          diskMiB: snapshot.boot.diskMiB ?? null,
          labels: origin ? { ...origin.labels } : {},
          // A fork reaches what its origin reached, from an address of its own.
          network: origin?.network ?? (snapshot.boot.network ? 'nat' : 'none'),
          egress: origin?.egress ?? { allow: [], deny: [] },
        });
        this.announce(record);
        return this.locked(record.id, () =>
          this.boot(record, { kind: 'restore', dir, boot: snapshot.boot, snapshot, label: `snapshot "${snapshot.name}"`, freshIdentity: true }, ['creating']),
        );
      }),
    );
  }

  /** Deletes a snapshot; its children and any sandbox positioned on it move to its parent, so nothing breaks. */
  async deleteSnapshot(snapshotId: string): Promise<void> {
    const snapshot = this.getSnapshot(snapshotId);
    const deleteIt = async () => {
      this.options.store.snapshots.delete(snapshot.id);
      await this.snapshotFiles.remove(snapshot.sandboxId, snapshot.id);
      const owner = this.options.store.get(snapshot.sandboxId);
      if (owner) this.announceSnapshot(owner, snapshot, 'deleted');
    };
    // Serialised with the owner's restores, which read the files.
    return this.options.store.get(snapshot.sandboxId) ? this.locked(snapshot.sandboxId, deleteIt) : deleteIt();
  }

  /** Lets go of the VMs without stopping them: a new manager adopts them. */
  close(): void {
    for (const live of this.live.values()) {
      void live.agent?.then((agent) => agent.close(), () => undefined);
      live.expectedExit = 'stop';
    }
    this.live.clear();
  }

  private async boot(record: SandboxRecord, source: VmSource, from: readonly SandboxState[]): Promise<SandboxRecord> {
    const { store } = this.options;
    if (record.state !== 'creating') this.announce(store.transition(record.id, { from, to: 'creating', reason: source.kind === 'restore' ? `restoring ${source.label}` : undefined }));
    const runDir = this.runDir(record.id);
    await rm(runDir, { recursive: true, force: true });
    await mkdir(runDir, { recursive: true, mode: 0o700 });
    let vm: RunningVm | null = null;
    try {
      const bootFiles = source.kind === 'boot' ? source.image : source.boot;
      const disk = this.diskOf(record);
      if (disk) await this.prepareDisk(record, source, disk);
      const nic = await this.nicFor(record, source);
      const spec: VmLaunchSpec = {
        id: record.id,
        hostname: record.name,
        kernel: bootFiles.kernel,
        initrd: bootFiles.initrd,
        cmdline: bootFiles.cmdline,
        vcpus: record.vcpus,
        memoryMiB: record.memoryMiB,
        runDir,
        ...(disk ? { disk: { path: disk } } : {}),
        ...(nic ? { nic: nic.nic } : {}),
      };
      const driver = this.driver(record.hypervisor);
      vm = source.kind === 'boot' ? await driver.launch(spec) : await driver.restore(spec, source.dir);
      // Recorded before the guest is even up: a daemon killed from here on finds the
      // process again instead of leaving it orphaned.
      store.transition(record.id, { from: ['creating'], to: 'creating', handle: vm.handle });
      const boot: SnapshotBoot = {
        kernel: spec.kernel,
        initrd: spec.initrd,
        cmdline: spec.cmdline,
        ...(record.diskMiB === null ? {} : { diskMiB: record.diskMiB }),
        ...(nic ? { network: nic.guest } : {}),
      };
      const live: Live = { vm, boot, agent: null, expectedExit: null };
      this.live.set(record.id, live);
      this.watch(record.id, live);
      const agent = await this.agentOf(record.id, live);
      if (source.kind === 'boot') return this.announce(store.transition(record.id, { from: ['creating'], to: 'running' }));
      // The guest's clock stood still while the state was on disk.
      await agent.setTime(Date.now());
      if (source.freshIdentity) await assignGuestIdentity(agent, record.name);
      // A fork moves to its own lease and MAC; every restored guest also forgets the
      // neighbours it knew (the gateway's MAC may differ from the saved moment's).
      if (nic && source.boot.network && record.network === 'nat') {
        await agent.configureNetwork({ address: nic.guest.address, gateway: nic.guest.gateway, dns: nic.guest.dns, mac: nic.guest.mac });
      }
      if (source.snapshot) store.snapshots.setCurrent(record.id, source.snapshot.id);
      return this.announce(
        store.transition(record.id, { from: ['creating'], to: 'running', reason: `restored ${source.label}; agent reconnected, guest clock resynced` }),
      );
    } catch (error) {
      const reason = vm ? await withSerialTail((error as Error).message, vm.handle.serialLog) : (error as Error).message;
      const live = this.live.get(record.id);
      if (live && vm) {
        live.expectedExit = 'stop';
        await vm.kill();
        await this.release(record.id, live);
      } else {
        await this.network.detach(record.id).catch(() => undefined);
      }
      await rm(runDir, { recursive: true, force: true });
      this.announce(store.transition(record.id, { to: 'error', reason, handle: null }));
      throw error;
    }
  }

  private async stopLocked(id: string, options: StopOptions): Promise<SandboxRecord> {
    const record = this.get(id);
    const live = this.live.get(id);
    if (!live || !LIVE.includes(record.state)) throw wrongState(record, 'stop');
    live.expectedExit = 'stop';
    this.announce(this.options.store.transition(id, { from: LIVE, to: 'stopping' }));
    const timeoutMs = options.timeoutMs ?? 10_000;
    const exited = (ms: number) => Promise.race([live.vm.exited.then(() => true), delay(ms).then(() => false)]);
    if (record.state === 'paused') await live.vm.resume().catch(() => undefined);
    const agent = await Promise.race([this.agentOf(id, live), delay(2_000).then(() => null)]).catch(() => null);
    let reason = 'the guest powered off';
    if (!(agent && (await agent.power('poweroff').then(() => exited(timeoutMs), () => false)))) {
      await live.vm.powerButton().catch(() => undefined);
      if (!(await exited(2_000))) {
        await live.vm.kill();
        reason = `the guest did not power off within ${timeoutMs} ms and was ended`;
      }
    }
    await this.release(id, live);
    return this.announce(this.options.store.transition(id, { from: ['stopping'], to: 'stopped', reason, handle: null }));
  }

  private async change(
    id: string,
    verb: string,
    from: readonly SandboxState[],
    to: SandboxState,
    act: (live: Live) => Promise<void>,
  ): Promise<SandboxRecord> {
    const record = this.get(id);
    return this.locked(record.id, async () => {
      const current = this.get(record.id);
      const live = this.live.get(record.id);
      if (!live || !from.includes(current.state)) throw wrongState(current, verb);
      await act(live);
      return this.announce(this.options.store.transition(record.id, { from, to }));
    });
  }

  /** Notices a VMM that exits on its own: a guest power-off (stopped) or a crash. */
  private watch(id: string, live: Live): void {
    void live.vm.exited.then(async (exit: VmExit) => {
      if (live.expectedExit || this.live.get(id) !== live) return;
      const reason = exit.clean
        ? 'the guest powered off'
        : await withSerialTail(`the VMM exited unexpectedly (code ${exit.code}, signal ${exit.signal})`, live.vm.handle.serialLog);
      await this.release(id, live);
      const record = this.options.store.get(id);
      if (!record) return;
      this.announce(this.options.store.transition(id, { to: exit.clean ? 'stopped' : 'crashed', reason, handle: null }));
    });
  }

  private async release(id: string, live: Live): Promise<void> {
    if (this.live.get(id) === live) this.live.delete(id);
    await live.agent?.then((agent) => agent.close(), () => undefined);
    await live.vm.cleanup();
    await this.network.detach(id);
  }

  /**
   * The NIC a VM gets. A booting `nat` sandbox gets one configured from the command
   * line. A restored state decides whether there is a device at all, since the state
   * only loads into the machine it was saved from: a state saved without a NIC gets
   * none (until the next boot), and one saved with a NIC keeps the device, connected
   * when the sandbox is `nat` and unplugged when it is `none` now.
   */
  private async nicFor(record: SandboxRecord, source: VmSource): Promise<{ nic: VmNic; guest: GuestNetwork } | null> {
    if (source.kind === 'boot') return record.network === 'nat' ? this.network.attach(record) : null;
    const saved = source.boot.network;
    if (!saved) return null;
    if (record.network === 'none') return { nic: { mac: saved.mac, backend: { kind: 'unplugged' }, cmdline: '' }, guest: saved };
    const attached = await this.network.attach(record);
    return { nic: { ...attached.nic, cmdline: '' }, guest: attached.guest };
  }

  /** What the NIC of a VM adopted from an earlier daemon is configured with (it was booted with the sandbox's settings). */
  private async adoptedGuestNetwork(record: SandboxRecord): Promise<{ network?: GuestNetwork }> {
    const network = record.network === 'nat' ? await this.network.describe(record) : undefined;
    return network ? { network } : {};
  }

  private agentOf(id: string, live: Live): Promise<AgentClient> {
    if (!live.agent) {
      live.agent = live.vm.connectAgent(AGENT_DEADLINE_MS);
      live.agent.then(
        (agent) => void agent.closed.then(() => {
          if (live.agent && this.live.get(id) === live) live.agent = null;
        }),
        () => {
          live.agent = null;
        },
      );
    }
    return live.agent;
  }

  /**
   * Brings the store in line with the processes that exist: adopts VMMs that are still
   * ours, marks the rest, ends processes no row owns, and removes leftover files.
   */
  private async reconcile(): Promise<void> {
    const { store } = this.options;
    const kept = new Set<number>();
    for (const record of store.list()) {
      const driver = record.handle ? this.options.drivers[record.handle.kind] : undefined;
      const vm = record.handle && driver ? await driver.adopt(record.handle) : null;
      if (vm && LIVE.includes(record.state)) {
        kept.add(vm.handle.pid);
        const live: Live = { vm, boot: null, agent: null, expectedExit: null };
        this.live.set(record.id, live);
        this.watch(record.id, live);
        // A daemon killed in the middle of a snapshot leaves the guest paused for capture.
        if (record.state === 'running' && (await vm.status().catch(() => 'running')) === 'paused') await vm.resume();
        continue;
      }
      if (vm) {
        // A create or stop the previous daemon did not finish: end it rather than guess.
        await vm.kill();
        await vm.cleanup();
      }
      if (record.state === 'creating') {
        this.announce(store.transition(record.id, { to: 'error', reason: 'creation was interrupted by a daemon restart', handle: null }));
      } else if (record.state === 'stopping') {
        this.announce(store.transition(record.id, { to: 'stopped', reason: 'stopped while the daemon restarted', handle: null }));
      } else if (LIVE.includes(record.state)) {
        this.announce(store.transition(record.id, { to: 'crashed', reason: 'the VMM was gone when the daemon restarted', handle: null }));
      }
    }
    await this.network.reconcile(store.list(), new Set(this.live.keys()));
    for (const pid of await processesMentioning(`${this.runRoot}/`)) {
      if (!kept.has(pid) && pid !== process.pid) process.kill(pid, 'SIGKILL');
    }
    for (const entry of await readdir(this.runRoot).catch(() => [])) {
      if (!this.live.has(entry)) await rm(join(this.runRoot, entry), { recursive: true, force: true });
    }
    // Disks stay with their sandbox whatever state it is in (a crashed one keeps its files);
    // a directory no sandbox owns, or a copy cut short, goes.
    const ids = new Set(store.list().map((record) => record.id));
    for (const entry of await readdir(this.sandboxRoot).catch(() => [] as string[])) {
      const dir = join(this.sandboxRoot, entry);
      if (!ids.has(entry)) {
        await rm(dir, { recursive: true, force: true });
        continue;
      }
      for (const file of await readdir(dir).catch(() => [] as string[])) {
        if (PARTIAL_DISK.test(file)) await rm(join(dir, file), { force: true });
      }
    }
    const registered = new Map(store.list().map((record) => [record.id, new Set(store.snapshots.ofSandbox(record.id).map((s) => s.id))]));
    await this.snapshotFiles.sweep(registered);
  }

  private async applyRetention(sandboxId: string): Promise<{ deleted: SnapshotRecord[]; note: string | null }> {
    const { store, config } = this.options;
    const protectedIds = new Set(store.list().flatMap((record) => store.snapshots.lineage(record.currentSnapshotId).map((s) => s.id)));
    const plan = planRetention(store.snapshots.all(), sandboxId, protectedIds, config.snapshots);
    for (const victim of plan.victims) {
      store.snapshots.delete(victim.id);
      await this.snapshotFiles.remove(victim.sandboxId, victim.id);
      const owner = store.get(victim.sandboxId);
      if (owner) this.announceSnapshot(owner, victim, 'deleted');
    }
    return { deleted: plan.victims, note: plan.note };
  }

  private announceSnapshot(record: SandboxRecord, snapshot: SnapshotRecord, action: 'created' | 'restored' | 'deleted'): void {
    this.emit('event', { type: 'snapshot', id: record.id, name: record.name, action, snapshotId: snapshot.id, snapshotName: snapshot.name, at: Date.now() } satisfies SandboxEvent);
  }

  private async admitMemory(memoryMiB: number): Promise<void> {
    const available = await hostMemAvailableMiB();
    const reserve = this.options.config.limits.memoryReserveMiB;
    if (memoryMiB + reserve > available) {
      throw new SandboxError(
        'insufficient_memory',
        `memoryMiB: ${memoryMiB} MiB does not fit: the host has ${available} MiB available and keeps ${reserve} MiB for itself (limits.memoryReserveMiB)`,
        { field: 'memoryMiB' },
      );
    }
  }

  private driver(kind: HypervisorKind): HypervisorDriver {
    const driver = this.options.drivers[kind];
    if (!driver) throw new SandboxError('hypervisor_unavailable', `no ${kind} driver is configured`);
    return driver;
  }

  private runDir(id: string): string {
    return join(this.runRoot, id);
  }

  /** A sandbox's own files, kept across its runs: its disk. */
  private sandboxDir(id: string): string {
    return join(this.sandboxRoot, id);
  }

  /** The sandbox's disk overlay, or null when its template has no disk. */
  private diskOf(record: SandboxRecord): string | null {
    return record.diskMiB === null ? null : join(this.sandboxDir(record.id), DISK_FILE);
  }

  /**
   * Puts the disk the guest is about to use in place. Booting keeps the sandbox's overlay
   * (files written in the guest survive stop and start) and creates it on the first boot;
   * a restore, fork or warm start replaces it with a copy of the saved state's disk.
   */
  private async prepareDisk(record: SandboxRecord, source: VmSource, disk: string): Promise<void> {
    await mkdir(this.sandboxDir(record.id), { recursive: true, mode: 0o700 });
    if (source.kind === 'restore') {
      if (source.boot.diskMiB === undefined) throw new SandboxError('snapshot_corrupt', `${source.label} has no disk, but sandbox "${record.name}" boots from one`);
      await copyDisk(join(source.dir, DISK_FILE), disk);
      return;
    }
    if (await stat(disk).then(() => true, () => false)) return;
    if (!source.image.rootfs) {
      throw new SandboxError('invalid_state', `sandbox "${record.name}" has a disk, but the ${record.template} image has no root file system to back it`);
    }
    await createOverlay(source.image.rootfs, disk, record.diskMiB ?? 0);
  }

  /**
   * Cloud Hypervisor keeps a qcow2 overlay's new cluster mappings in memory until the
   * guest flushes, and pausing does not flush them; a copy of the file taken while paused
   * would miss the guest's latest writes. So the guest syncs first. QEMU flushes its
   * block layer when it stops the guest, so it needs nothing.
   */
  private async flushGuestDisk(record: SandboxRecord, live: Live): Promise<void> {
    if (record.hypervisor !== 'cloud-hypervisor' || record.state !== 'running') return;
    const agent = await this.agentOf(record.id, live);
    await agent.run({ argv: ['sync'], timeoutMs: 60_000 }).catch(() => undefined);
  }

  private announce(record: SandboxRecord): SandboxRecord {
    this.emit('event', { type: 'state', id: record.id, name: record.name, state: record.state, reason: record.stateReason, at: record.updatedAt } satisfies SandboxEvent);
    return record;
  }

  /** One operation at a time per sandbox; different sandboxes proceed in parallel. */
  private locked<T>(id: string, fn: () => Promise<T>): Promise<T> {
    const previous = this.locks.get(id) ?? Promise.resolve();
    const next = previous.then(fn, fn);
    const settled = next.catch(() => undefined);
    this.locks.set(id, settled);
    void settled.then(() => {
      if (this.locks.get(id) === settled) this.locks.delete(id);
    });
    return next;
  }
}

function wrongState(record: SandboxRecord, verb: string): SandboxError {
  return new SandboxError('invalid_state', `cannot ${verb} sandbox "${record.name}": it is ${record.state}`, { state: record.state });
}

const SNAPSHOT_NAME = /^[A-Za-z0-9._-][A-Za-z0-9._ -]{0,63}$/;

function isValidSnapshotName(name: string): boolean {
  return SNAPSHOT_NAME.test(name) && !name.endsWith(' ');
}

function nextSnapshotName(taken: readonly string[]): string {
  for (let n = taken.length + 1; ; n++) {
    if (!taken.includes(`snap-${n}`)) return `snap-${n}`;
  }
}

function bootOf(image: MinimalImage, diskMiB: number | null): SnapshotBoot {
  return { kernel: image.kernel, initrd: image.initrd, cmdline: image.cmdline, ...(diskMiB === null ? {} : { diskMiB }) };
}

const MIB = 1024 * 1024;

/**
 * The disk a new sandbox gets: none for an initramfs-only image; otherwise the size asked
 * for, or the template's default, and never less than the image's own file system.
 */
async function diskSize(image: MinimalImage, request: ValidCreateRequest): Promise<number | null> {
  const template = image.template?.name ?? request.template;
  if (!image.rootfs) {
    if (request.diskMiB !== undefined) {
      throw new SandboxError('invalid_argument', `diskMiB: the ${template} template has no disk (it boots from an initramfs); leave diskMiB out`, { field: 'diskMiB' });
    }
    return null;
  }
  const imageMiB = Math.ceil((image.rootfsBytes ?? (await stat(image.rootfs)).size) / MIB);
  if (request.diskMiB !== undefined && request.diskMiB < imageMiB) {
    throw new SandboxError('invalid_argument', `diskMiB: ${request.diskMiB} MiB is smaller than the ${template} image (${imageMiB} MiB); ask for at least ${imageMiB}`, {
      field: 'diskMiB',
      minimum: imageMiB,
    });
  }
  return request.diskMiB ?? Math.max(image.template?.defaults.diskMiB ?? imageMiB, imageMiB);
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

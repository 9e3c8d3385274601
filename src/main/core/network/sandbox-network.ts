import { createHash } from 'node:crypto';
import { access, readdir } from 'node:fs/promises';
import type { AppConfig } from '../config/app-config.js';
import { SandboxError } from '../errors/sandbox-error.js';
import type { HypervisorKind, VmNic } from '../hypervisor/hypervisor-driver.js';
import type { LeaseStore } from '../store/lease-store.js';
import { clashingRoute, guestNameserver } from './host-routes.js';
import { bridgeSubnet, leaseAddress, type BridgeSubnet } from './ip-leases.js';
import type { NetAdmin } from './net-admin.js';
import { allowsNothing, hasEgressRules, type Egress, type NetworkMode } from './network-mode.js';

export type NetworkBackend = 'tap' | 'user';

/** What the guest's NIC is configured with: kept with a snapshot, so a restore knows what the guest believes. */
export interface GuestNetwork {
  /** ADDRESS/PREFIX */
  address: string;
  gateway: string;
  dns: string;
  mac: string;
}

/** A NIC ready for a VM, and the settings the guest gets on it. */
export interface AttachedNic {
  nic: VmNic;
  guest: GuestNetwork;
  backend: NetworkBackend;
}

export interface SandboxNetworkOptions {
  config: AppConfig;
  leases: LeaseStore;
  /** The privileged operations; null when the daemon may not change the host's network (nat then uses QEMU user mode). */
  netAdmin: NetAdmin | null;
  /** Owner of the TAPs: the uid the VMMs run as. */
  uid?: number;
}

/** QEMU user mode's fixed network (its defaults, said explicitly on the command line). */
export const USER_MODE_GUEST: Omit<GuestNetwork, 'mac'> = { address: '10.0.2.15/24', gateway: '10.0.2.2', dns: '10.0.2.3' };

/** Interface name of a sandbox's TAP: Linux allows 15 characters, and a UUID's first 12 hex digits are unique enough among one user's sandboxes. */
export function tapName(sandboxId: string): string {
  return `mvt${sandboxId.replace(/[^0-9a-f]/gi, '').toLowerCase().slice(0, 12)}`;
}

/** A locally administered unicast MAC derived from the sandbox id: stable across its runs, different for a fork. */
export function macAddress(sandboxId: string): string {
  const bytes = createHash('sha256').update(`microvm-mac:${sandboxId}`).digest().subarray(0, 5);
  return ['02', ...[...bytes].map((b) => b.toString(16).padStart(2, '0'))].join(':');
}

export function guestParam(guest: Omit<GuestNetwork, 'mac'>): string {
  return `microvm.net=${guest.address},${guest.gateway},${guest.dns}`;
}

/**
 * The host side of sandbox networking: which backend a `nat` sandbox gets, its lease,
 * TAP and rules while its VM runs, and the project bridge, which exists while at least
 * one TAP is attached to it (whichever daemon's: the bridge's own port list decides).
 */
export class SandboxNetwork {
  /** Sandboxes whose TAP exists: the bridge goes when the last one does. */
  private readonly taps = new Map<string, string>();
  private readonly uid: number;
  /** Serialises bridge creation and removal with the TAPs that depend on it. */
  private queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly options: SandboxNetworkOptions) {
    this.uid = options.uid ?? process.getuid?.() ?? 0;
  }

  /** The backend a `nat` sandbox gets on this host with this configuration. */
  backend(): NetworkBackend {
    const { backend } = this.options.config.network;
    if (backend === 'user') return 'user';
    if (this.options.netAdmin) return 'tap';
    if (backend === 'tap') {
      throw new SandboxError(
        'network_unavailable',
        'network.backend is "tap", but the daemon cannot create TAPs: run it as root or install the network helper (docs/networking.md)',
      );
    }
    return 'user';
  }

  /**
   * Refuses settings this host cannot honour, before anything is created. QEMU's user
   * mode connects from the QEMU process itself to wherever the guest asks, with no
   * per-destination filter, so it can enforce "nothing" (restrict=on) but no CIDR list.
   */
  check(settings: { network: NetworkMode; egress: Egress }, hypervisor: HypervisorKind): void {
    if (settings.network === 'none') return;
    if (this.backend() === 'tap') {
      this.subnet();
      return;
    }
    if (hypervisor === 'cloud-hypervisor') {
      throw new SandboxError(
        'network_unavailable',
        'network: "nat" on Cloud Hypervisor needs a TAP (it has no user-mode networking): run the daemon as root or install the network helper, or use QEMU',
        { field: 'network' },
      );
    }
    if (hasEgressRules(settings.egress) && !allowsNothing(settings.egress)) {
      throw new SandboxError(
        'network_unavailable',
        'egress: QEMU user-mode networking (used because the daemon cannot create TAPs) cannot enforce an allow or deny list; ' +
          'run the daemon as root or install the network helper, or drop the policy (deny 0.0.0.0/0 alone is possible: it cuts the sandbox off)',
        { field: 'egress' },
      );
    }
  }

  /** Prepares the NIC of a `nat` sandbox about to run: TAP, lease and rules, or user mode. */
  async attach(sandbox: { id: string; network: NetworkMode; egress: Egress; hypervisor: HypervisorKind }): Promise<AttachedNic> {
    this.check(sandbox, sandbox.hypervisor);
    const mac = macAddress(sandbox.id);
    if (this.backend() === 'user') {
      const guest = { ...USER_MODE_GUEST, mac };
      return { backend: 'user', guest, nic: { mac, backend: { kind: 'user', restrict: allowsNothing(sandbox.egress) }, cmdline: guestParam(guest) } };
    }
    const admin = this.options.netAdmin!;
    const subnet = this.subnet();
    const { bridge } = this.options.config.network;
    const lease = leaseAddress(this.options.leases, sandbox.id, subnet);
    const guest: GuestNetwork = { address: `${lease.address}/${subnet.prefix}`, gateway: subnet.gateway, dns: await this.nameserver(subnet), mac };
    const tap = tapName(sandbox.id);
    await this.serialised(async () => {
      if (this.taps.size === 0 && !(await interfaceExists(bridge))) {
        const clash = await clashingRoute(subnet, bridge);
        if (clash) {
          throw new SandboxError(
            'network_unavailable',
            `the bridge subnet ${subnet.text} (config key network.subnet) overlaps the host's route ${clash}; configure another subnet`,
          );
        }
      }
      await admin.ensureBridge(bridge, subnet.gatewayCidr);
      this.taps.set(sandbox.id, tap);
      await admin.createTap(tap, this.uid, bridge);
      await admin.setSandboxRules(tap, lease.address, sandbox.egress);
    }).catch(async (error: unknown) => {
      await this.detach(sandbox.id);
      throw error;
    });
    return { backend: 'tap', guest, nic: { mac, backend: { kind: 'tap', tap }, cmdline: guestParam(guest) } };
  }

  /**
   * Removes a sandbox's TAP and rules once its VM is gone; the bridge goes with the last
   * TAP. Safe to call for a sandbox that has none.
   */
  detach(sandboxId: string): Promise<void> {
    const tap = this.taps.get(sandboxId);
    if (!tap) return Promise.resolve();
    return this.serialised(async () => {
      const admin = this.options.netAdmin!;
      await admin.removeSandboxRules(tap);
      await admin.deleteTap(tap);
      this.taps.delete(sandboxId);
      await this.removeBridgeIfUnused();
    });
  }

  /**
   * After a daemon restart: TAPs of VMs that still run are counted again; those of
   * sandboxes whose VM is gone (a crash while no daemon ran, a daemon killed mid-stop)
   * are removed, and the bridge too when no TAP is left. Only interfaces named after
   * this store's sandboxes are touched, and only when they exist, so a daemon without
   * them asks for no privileged operation at all.
   */
  async reconcile(sandboxes: readonly { id: string }[], running: ReadonlySet<string>): Promise<void> {
    const admin = this.options.netAdmin;
    if (!admin) return;
    const orphans: string[] = [];
    for (const { id } of sandboxes) {
      const tap = tapName(id);
      if (!(await interfaceExists(tap))) continue;
      if (running.has(id)) this.taps.set(id, tap);
      else orphans.push(tap);
    }
    await this.serialised(async () => {
      for (const tap of orphans) {
        await admin.removeSandboxRules(tap);
        await admin.deleteTap(tap);
      }
      await this.removeBridgeIfUnused();
    });
  }

  /** What a running `nat` sandbox's guest is configured with, from its lease; undefined when it has none. */
  async describe(sandbox: { id: string }): Promise<GuestNetwork | undefined> {
    const mac = macAddress(sandbox.id);
    if (this.backend() === 'user') return { ...USER_MODE_GUEST, mac };
    const lease = this.options.leases.get(sandbox.id);
    const subnet = this.subnet();
    if (!lease || lease.subnet !== subnet.text) return undefined;
    return { address: `${lease.address}/${subnet.prefix}`, gateway: subnet.gateway, dns: await this.nameserver(subnet), mac };
  }

  private async removeBridgeIfUnused(): Promise<void> {
    const { bridge } = this.options.config.network;
    if (!(await interfaceExists(bridge))) return;
    const ports = await readdir(`/sys/class/net/${bridge}/brif`).catch(() => []);
    if (ports.length === 0) await this.options.netAdmin!.deleteBridge(bridge);
  }

  private subnet(): BridgeSubnet {
    const subnet = bridgeSubnet(this.options.config.network.subnet);
    if ('error' in subnet) throw new SandboxError('invalid_config', `network.subnet: ${subnet.error}`);
    return subnet;
  }

  private async nameserver(subnet: BridgeSubnet): Promise<string> {
    const { dns } = this.options.config.network;
    return dns === 'auto' ? guestNameserver(subnet.gateway) : dns;
  }

  private serialised<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.queue.then(fn, fn);
    this.queue = next.catch(() => undefined);
    return next;
  }
}

/** Whether a network interface exists in the daemon's namespace; sysfs needs no privileges. */
export async function interfaceExists(name: string): Promise<boolean> {
  return access(`/sys/class/net/${name}`).then(
    () => true,
    () => false,
  );
}

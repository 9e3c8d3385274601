import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { defaultAppConfig, type AppConfig } from '../../../src/main/core/config/app-config.js';
import { chVmConfig } from '../../../src/main/core/hypervisor/cloud-hypervisor/ch-vm-config.js';
import type { VmLaunchSpec, VmNic } from '../../../src/main/core/hypervisor/hypervisor-driver.js';
import { qemuMicrovmArgs } from '../../../src/main/core/hypervisor/qemu-command.js';
import type { EgressPolicy, NetAdmin } from '../../../src/main/core/network/net-admin.js';
import { macAddress, SandboxNetwork, tapName } from '../../../src/main/core/network/sandbox-network.js';
import { SandboxStore } from '../../../src/main/core/store/sandbox-store.js';

/** Records the verbs instead of running them. */
class RecordingNetAdmin implements NetAdmin {
  calls: string[] = [];
  async ensureBridge(bridge: string, gatewayCidr: string) {
    this.calls.push(`ensureBridge ${bridge} ${gatewayCidr}`);
  }
  async deleteBridge(bridge: string) {
    this.calls.push(`deleteBridge ${bridge}`);
  }
  async createTap(tap: string, uid: number, bridge: string) {
    this.calls.push(`createTap ${tap} ${uid} ${bridge}`);
  }
  async deleteTap(tap: string) {
    this.calls.push(`deleteTap ${tap}`);
  }
  async setSandboxRules(tap: string, guestIp: string, policy: EgressPolicy) {
    this.calls.push(`setSandboxRules ${tap} ${guestIp} ${JSON.stringify(policy)}`);
  }
  async removeSandboxRules(tap: string) {
    this.calls.push(`removeSandboxRules ${tap}`);
  }
}

const ID = '7297c314-dbba-4c2e-9a51-0d6f3c1e2a44';
const nat = { id: ID, network: 'nat' as const, egress: { allow: [], deny: ['192.0.2.0/24'] }, hypervisor: 'qemu' as const };

let dir: string;
let store: SandboxStore;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'microvm-network-'));
  store = SandboxStore.open(join(dir, 'microvm.db'));
  store.insert({ id: ID, name: 'box', template: 'minimal', hypervisor: 'qemu', vcpus: 1, memoryMiB: 256, network: 'nat' });
});

afterEach(() => {
  store.close();
  rmSync(dir, { recursive: true, force: true });
});

/** A bridge name no host has, so the sysfs checks find nothing and change nothing. */
function config(network: Partial<AppConfig['network']>): AppConfig {
  return { ...defaultAppConfig(), network: { ...defaultAppConfig().network, bridge: 'mvbr97531', subnet: '10.213.0.0/24', dns: '192.0.2.53', ...network } };
}

describe('names', () => {
  it('derives the TAP name and a locally administered unicast MAC from the sandbox id', () => {
    expect(tapName(ID)).toBe('mvt7297c314dbba');
    expect(tapName(ID).length).toBeLessThanOrEqual(15);
    expect(macAddress(ID)).toMatch(/^02(:[0-9a-f]{2}){5}$/);
    expect(macAddress(ID)).toBe(macAddress(ID));
    expect(macAddress('a-fork')).not.toBe(macAddress(ID));
  });
});

describe('SandboxNetwork', () => {
  it('puts a nat sandbox on a TAP of the bridge with its lease and policy, and takes it off again', async () => {
    const admin = new RecordingNetAdmin();
    const network = new SandboxNetwork({ config: config({}), leases: store.leases, netAdmin: admin, uid: 1000 });
    expect(network.backend()).toBe('tap');
    const attached = await network.attach(nat);
    const tap = tapName(ID);
    expect(attached).toEqual({
      backend: 'tap',
      guest: { address: '10.213.0.2/24', gateway: '10.213.0.1', dns: '192.0.2.53', mac: macAddress(ID) },
      nic: { mac: macAddress(ID), backend: { kind: 'tap', tap }, cmdline: 'microvm.net=10.213.0.2/24,10.213.0.1,192.0.2.53' },
    });
    expect(admin.calls).toEqual([
      'ensureBridge mvbr97531 10.213.0.1/24',
      `createTap ${tap} 1000 mvbr97531`,
      `setSandboxRules ${tap} 10.213.0.2 {"allow":[],"deny":["192.0.2.0/24"]}`,
    ]);
    expect(await network.describe(nat)).toEqual(attached.guest);
    admin.calls = [];
    await network.detach(ID);
    await network.detach(ID);
    expect(admin.calls).toEqual([`removeSandboxRules ${tap}`, `deleteTap ${tap}`]);
    // The lease stays with the sandbox between runs.
    expect(store.leases.get(ID)?.address).toBe('10.213.0.2');
  });

  it('undoes a half-made TAP when a verb fails', async () => {
    const admin = new RecordingNetAdmin();
    admin.setSandboxRules = async () => {
      throw new Error('nft said no');
    };
    const network = new SandboxNetwork({ config: config({}), leases: store.leases, netAdmin: admin, uid: 1000 });
    await expect(network.attach(nat)).rejects.toThrow('nft said no');
    expect(admin.calls.slice(-2)).toEqual([`removeSandboxRules ${tapName(ID)}`, `deleteTap ${tapName(ID)}`]);
  });

  it('uses QEMU user mode without privileges, restricted when the policy allows nothing', async () => {
    const network = new SandboxNetwork({ config: config({}), leases: store.leases, netAdmin: null });
    expect(network.backend()).toBe('user');
    const open = await network.attach({ ...nat, egress: { allow: [], deny: [] } });
    expect(open.nic).toEqual({ mac: macAddress(ID), backend: { kind: 'user', restrict: false }, cmdline: 'microvm.net=10.0.2.15/24,10.0.2.2,10.0.2.3' });
    const closed = await network.attach({ ...nat, egress: { allow: [], deny: ['0.0.0.0/0'] } });
    expect(closed.nic.backend).toEqual({ kind: 'user', restrict: true });
    expect(store.leases.get(ID)).toBeUndefined();
  });

  it('refuses what it cannot enforce, naming the field', () => {
    const user = new SandboxNetwork({ config: config({}), leases: store.leases, netAdmin: null });
    expect(() => user.check(nat, 'qemu')).toThrow(
      expect.objectContaining({ code: 'network_unavailable', details: { field: 'egress' }, message: expect.stringContaining('cannot enforce an allow or deny list') }),
    );
    expect(() => user.check({ network: 'nat', egress: { allow: [], deny: [] } }, 'cloud-hypervisor')).toThrow(
      expect.objectContaining({ code: 'network_unavailable', details: { field: 'network' }, message: expect.stringContaining('Cloud Hypervisor needs a TAP') }),
    );
    expect(() => user.check({ network: 'none', egress: { allow: [], deny: [] } }, 'cloud-hypervisor')).not.toThrow();
    const forcedTap = new SandboxNetwork({ config: config({ backend: 'tap' }), leases: store.leases, netAdmin: null });
    expect(() => forcedTap.backend()).toThrow(expect.objectContaining({ code: 'network_unavailable', message: expect.stringContaining('network.backend is "tap"') }));
    const forcedUser = new SandboxNetwork({ config: config({ backend: 'user' }), leases: store.leases, netAdmin: new RecordingNetAdmin() });
    expect(forcedUser.backend()).toBe('user');
  });
});

describe('NIC arguments', () => {
  const mac = '02:11:22:33:44:55';
  const qemu = (nic: VmNic) =>
    qemuMicrovmArgs({ kernel: 'k', initrd: 'i', cmdline: 'c', memoryMiB: 256, vcpus: 1, accel: 'tcg', agentSocket: 'a', serialLog: 's', nic });

  it('gives QEMU a TAP, user mode or an unplugged device, as the last device', () => {
    const tap = qemu({ mac, backend: { kind: 'tap', tap: 'mvtabc' }, cmdline: '' });
    expect(tap.slice(-4)).toEqual(['-netdev', 'tap,id=net0,ifname=mvtabc,script=no,downscript=no', '-device', `virtio-net-device,mac=${mac},netdev=net0`]);
    expect(qemu({ mac, backend: { kind: 'user', restrict: false }, cmdline: '' }).slice(-4)).toEqual([
      '-netdev',
      'user,id=net0,net=10.0.2.0/24,host=10.0.2.2,dns=10.0.2.3,ipv6=off',
      '-device',
      `virtio-net-device,mac=${mac},netdev=net0`,
    ]);
    expect(qemu({ mac, backend: { kind: 'user', restrict: true }, cmdline: '' })).toContain('user,id=net0,net=10.0.2.0/24,host=10.0.2.2,dns=10.0.2.3,ipv6=off,restrict=on');
    expect(qemu({ mac, backend: { kind: 'unplugged' }, cmdline: '' }).slice(-2)).toEqual(['-device', `virtio-net-device,mac=${mac}`]);
  });

  it('gives Cloud Hypervisor the TAP and the guest settings, and refuses anything else', () => {
    const spec: VmLaunchSpec = { id: ID, hostname: 'box', kernel: 'k', initrd: 'i', cmdline: 'c', vcpus: 1, memoryMiB: 256, runDir: '/run/x' };
    const paths = { serialLog: '/run/x/serial.log', vsockSocket: '/run/x/vsock.sock' };
    const config = chVmConfig({ ...spec, nic: { mac, backend: { kind: 'tap', tap: 'mvtabc' }, cmdline: 'microvm.net=10.213.0.2/24,10.213.0.1,10.213.0.1' } }, paths);
    expect(config.net).toEqual([{ tap: 'mvtabc', mac }]);
    expect(config.payload.cmdline).toBe('c microvm.hostname=box microvm.net=10.213.0.2/24,10.213.0.1,10.213.0.1 console=ttyS0');
    expect(chVmConfig(spec, paths).net).toBeUndefined();
    expect(() => chVmConfig({ ...spec, nic: { mac, backend: { kind: 'user', restrict: false }, cmdline: '' } }, paths)).toThrow(
      expect.objectContaining({ code: 'network_unavailable' }),
    );
  });
});

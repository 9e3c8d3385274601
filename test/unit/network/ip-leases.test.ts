import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { bridgeSubnet, firstFreeAddress, leaseAddress, type BridgeSubnet } from '../../../src/main/core/network/ip-leases.js';
import { SandboxStore, type NewSandbox } from '../../../src/main/core/store/sandbox-store.js';

let dir: string;
let dbPath: string;
let store: SandboxStore;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'microvm-leases-'));
  dbPath = join(dir, 'microvm.db');
  store = SandboxStore.open(dbPath);
});

afterEach(() => {
  store.close();
  rmSync(dir, { recursive: true, force: true });
});

const sandbox = (id: string, extra: Partial<NewSandbox> = {}): NewSandbox => ({ id, name: `box-${id}`, template: 'minimal', hypervisor: 'qemu', vcpus: 1, memoryMiB: 256, ...extra });
const subnet = (text: string) => bridgeSubnet(text) as BridgeSubnet;

describe('bridge subnets', () => {
  it('puts the gateway first and leases the addresses after it, never the broadcast', () => {
    const s = subnet('10.213.0.0/29');
    expect(s).toMatchObject({ gateway: '10.213.0.1', gatewayCidr: '10.213.0.1/29', prefix: 29 });
    expect(firstFreeAddress(s, new Set())).toBe('10.213.0.2');
    expect(firstFreeAddress(s, new Set(['10.213.0.2', '10.213.0.3']))).toBe('10.213.0.4');
    expect(firstFreeAddress(s, new Set(['10.213.0.2', '10.213.0.3', '10.213.0.4', '10.213.0.5', '10.213.0.6']))).toBeNull();
  });

  it('refuses subnets too small or too large for a bridge', () => {
    expect(bridgeSubnet('10.213.0.0/30')).toEqual({ error: '"10.213.0.0/30" must have a prefix between /8 and /29' });
    expect(bridgeSubnet('10.0.0.0/7')).toEqual({ error: '"10.0.0.0/7" must have a prefix between /8 and /29' });
    expect(bridgeSubnet('10.213.0.1/24')).toMatchObject({ error: expect.stringContaining('has host bits set') });
  });
});

describe('leases in the store', () => {
  it('gives each sandbox its own address, keeps it, and frees it with the sandbox', () => {
    const s = subnet('10.213.0.0/24');
    for (const id of ['a', 'b', 'c']) store.insert(sandbox(id, { network: 'nat' }));
    expect(leaseAddress(store.leases, 'a', s).address).toBe('10.213.0.2');
    expect(leaseAddress(store.leases, 'b', s).address).toBe('10.213.0.3');
    expect(leaseAddress(store.leases, 'a', s).address).toBe('10.213.0.2');
    store.delete('a');
    expect(store.leases.get('a')).toBeUndefined();
    // The freed address goes to the next sandbox that asks.
    expect(leaseAddress(store.leases, 'c', s).address).toBe('10.213.0.2');
  });

  it('survives reopening the store (a daemon restart)', () => {
    store.insert(sandbox('a', { network: 'nat' }));
    const lease = leaseAddress(store.leases, 'a', subnet('10.213.0.0/24'));
    store.close();
    store = SandboxStore.open(dbPath);
    expect(store.leases.get('a')).toEqual(lease);
  });

  it('replaces a lease from a subnet that is no longer configured', () => {
    store.insert(sandbox('a', { network: 'nat' }));
    leaseAddress(store.leases, 'a', subnet('10.213.0.0/24'));
    expect(leaseAddress(store.leases, 'a', subnet('10.99.0.0/24'))).toMatchObject({ subnet: '10.99.0.0/24', address: '10.99.0.2' });
    expect(store.leases.all()).toHaveLength(1);
  });

  it('reports a full subnet as a limit, naming the config key', () => {
    const s = subnet('10.213.0.0/29');
    for (const id of ['a', 'b', 'c', 'd', 'e', 'f']) {
      store.insert(sandbox(id, { network: 'nat' }));
      if (id !== 'f') leaseAddress(store.leases, id, s);
    }
    expect(() => leaseAddress(store.leases, 'f', s)).toThrow(expect.objectContaining({ code: 'limit_reached', message: expect.stringContaining('network.subnet') }));
  });
});

describe('network settings in the store', () => {
  it('stores the mode and policy, none by default', () => {
    expect(store.insert(sandbox('a'))).toMatchObject({ network: 'none', egress: { allow: [], deny: [] } });
    const nat = store.insert(sandbox('b', { network: 'nat', egress: { allow: ['192.0.2.0/24'], deny: [] } }));
    expect(store.get('b')).toEqual(nat);
  });

  it('changes them only in the given states, and switching to none frees the lease', () => {
    store.insert(sandbox('a', { network: 'nat', state: 'running' }));
    leaseAddress(store.leases, 'a', subnet('10.213.0.0/24'));
    expect(() => store.setNetwork('a', { network: 'none', egress: { allow: [], deny: [] } }, ['stopped'])).toThrow(
      expect.objectContaining({ code: 'invalid_state', message: 'cannot change the network of sandbox "box-a": it is running; stop it first' }),
    );
    store.transition('a', { to: 'stopped' });
    const changed = store.setNetwork('a', { network: 'nat', egress: { allow: [], deny: ['0.0.0.0/0'] } }, ['stopped']);
    expect(changed.egress.deny).toEqual(['0.0.0.0/0']);
    expect(store.leases.get('a')).toBeDefined();
    store.setNetwork('a', { network: 'none', egress: { allow: [], deny: [] } }, ['stopped']);
    expect(store.leases.get('a')).toBeUndefined();
    expect(store.get('a')).toMatchObject({ network: 'none', egress: { allow: [], deny: [] } });
  });
});

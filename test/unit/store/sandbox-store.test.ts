import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { VmHandle } from '../../../src/main/core/hypervisor/hypervisor-driver.js';
import { SandboxStore, defaultStorePath, type NewSandbox } from '../../../src/main/core/store/sandbox-store.js';

let dir: string;
let dbPath: string;
let store: SandboxStore;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'microvm-store-'));
  dbPath = join(dir, 'nested', 'microvm.db');
  store = SandboxStore.open(dbPath);
});

afterEach(() => {
  store.close();
  rmSync(dir, { recursive: true, force: true });
});

const sandbox = (id: string, extra: Partial<NewSandbox> = {}): NewSandbox => ({
  id,
  name: `box-${id}`,
  template: 'minimal',
  hypervisor: 'qemu',
  vcpus: 1,
  memoryMiB: 256,
  ...extra,
});

const handle: VmHandle = {
  kind: 'qemu',
  pid: 4242,
  pidStartTicks: 123456,
  runDir: '/run/x',
  serialLog: '/run/x/serial.log',
  controlSocket: '/run/x/qmp.sock',
  agent: { kind: 'unix', path: '/run/x/agent.sock' },
};

function thrown(fn: () => unknown): Error & { code?: string } {
  try {
    fn();
  } catch (err) {
    return err as Error & { code?: string };
  }
  throw new Error('expected an error');
}

describe('SandboxStore', () => {
  it('lives in the data directory by default', () => {
    expect(defaultStorePath({ MICROVM_DATA_DIR: '/srv/m' })).toBe('/srv/m/data/microvm.db');
  });

  it('round-trips a record, its labels and its defaults through insert, get, getByName and list', () => {
    const inserted = store.insert(sandbox('a', { labels: { team: 'x', 'app.kubernetes.io/name': 'ü' } }));
    store.insert(sandbox('b', { hypervisor: 'cloud-hypervisor', vcpus: 2, memoryMiB: 512, state: 'stopped' }));

    expect(inserted).toMatchObject({ id: 'a', state: 'creating', stateReason: null, handle: null });
    expect(inserted.createdAt).toBe(inserted.updatedAt);
    expect(store.get('a')).toEqual(inserted);
    expect(store.getByName('box-a')).toEqual(inserted);
    expect(store.get('a')?.labels).toEqual({ team: 'x', 'app.kubernetes.io/name': 'ü' });
    expect(store.get('b')).toMatchObject({ hypervisor: 'cloud-hypervisor', vcpus: 2, memoryMiB: 512, state: 'stopped', labels: {} });
    expect(store.list().map((r) => r.id)).toEqual(['a', 'b']);
    expect(store.get('nope')).toBeUndefined();
    expect(store.getByName('nope')).toBeUndefined();
  });

  it('refuses a duplicate name, naming it, and changes nothing', () => {
    store.insert(sandbox('a', { name: 'dup' }));
    const before = { list: store.list(), events: store.events('a') };

    const err = thrown(() => store.insert(sandbox('b', { name: 'dup' })));
    expect(err.code).toBe('already_exists');
    expect(err.message).toContain('"dup"');

    expect(store.list()).toEqual(before.list);
    expect(store.events('a')).toEqual(before.events);
    expect(store.events('b')).toEqual([]);
  });

  it('refuses a duplicate id', () => {
    store.insert(sandbox('a'));
    const err = thrown(() => store.insert(sandbox('a', { name: 'other' })));
    expect(err.code).toBe('already_exists');
    expect(err.message).toContain('"a"');
    expect(store.getByName('other')).toBeUndefined();
  });

  it('records creation and every transition in the audit trail', () => {
    store.insert(sandbox('a'));
    store.transition('a', { from: ['creating'], to: 'running', handle });
    store.transition('a', { from: ['running'], to: 'crashed', reason: 'Kernel panic', handle: null });

    expect(store.events('a').map(({ kind, data }) => ({ kind, data }))).toEqual([
      { kind: 'created', data: { state: 'creating' } },
      { kind: 'transition', data: { from: 'creating', to: 'running', reason: null } },
      { kind: 'transition', data: { from: 'running', to: 'crashed', reason: 'Kernel panic' } },
    ]);
  });

  it('sets, keeps and clears the handle and reason as the transition says', () => {
    store.insert(sandbox('a'));
    const running = store.transition('a', { from: ['creating'], to: 'running', handle });
    expect(running).toMatchObject({ state: 'running', handle });
    expect(store.get('a')).toEqual(running);

    const paused = store.transition('a', { to: 'paused', reason: 'by user' });
    expect(paused).toMatchObject({ state: 'paused', stateReason: 'by user', handle });

    const resumed = store.transition('a', { to: 'running' });
    expect(resumed.stateReason).toBeNull();

    const stopped = store.transition('a', { to: 'stopped', handle: null });
    expect(stopped.handle).toBeNull();
    expect(store.get('a')).toEqual(stopped);
  });

  it('refuses a transition from the wrong state, naming both states, and changes nothing', () => {
    store.insert(sandbox('a'));
    store.transition('a', { to: 'running', handle });
    const before = { record: store.get('a'), events: store.events('a') };

    const err = thrown(() => store.transition('a', { from: ['paused'], to: 'running', handle: null }));
    expect(err.code).toBe('invalid_state');
    expect(err.message).toMatch(/is running; it cannot become running \(only from paused\)/);

    expect(store.get('a')).toEqual(before.record);
    expect(store.events('a')).toEqual(before.events);
  });

  it('reports a transition of an unknown sandbox as not_found', () => {
    expect(thrown(() => store.transition('ghost', { to: 'running' })).code).toBe('not_found');
  });

  it('lists exactly the sandboxes that have a VMM handle', () => {
    store.insert(sandbox('a'));
    store.insert(sandbox('b'));
    store.insert(sandbox('c'));
    store.transition('a', { to: 'running', handle });
    store.transition('c', { to: 'paused', handle: { ...handle, pid: 7 } });

    expect(store.withHandles().map((r) => [r.id, r.handle?.pid])).toEqual([
      ['a', 4242],
      ['c', 7],
    ]);
  });

  it('deletes a sandbox together with its events', () => {
    store.insert(sandbox('a'));
    store.transition('a', { to: 'stopped' });
    expect(store.delete('a')).toBe(true);
    expect(store.get('a')).toBeUndefined();
    expect(store.events('a')).toEqual([]);
    expect(store.delete('a')).toBe(false);
    // The name is free again once its owner is gone.
    store.insert(sandbox('a2', { name: 'box-a' }));
  });

  it('refuses a file that is not a database, naming it, and leaves it alone', () => {
    const junk = join(dir, 'junk.db');
    writeFileSync(junk, 'this is not SQLite '.repeat(100));
    const err = thrown(() => SandboxStore.open(junk));
    expect(err.code).toBe('store_unreadable');
    expect(err.message).toContain(junk);
    expect(readFileSync(junk, 'utf8')).toBe('this is not SQLite '.repeat(100));
  });

  it('keeps everything across close and reopen', () => {
    store.insert(sandbox('a', { labels: { k: 'v' } }));
    store.transition('a', { to: 'running', handle, reason: 'booted' });
    const record = store.get('a');
    const events = store.events('a');
    store.close();

    store = SandboxStore.open(dbPath);
    expect(store.get('a')).toEqual(record);
    expect(store.events('a')).toEqual(events);
    expect(store.withHandles().map((r) => r.id)).toEqual(['a']);
  });
});

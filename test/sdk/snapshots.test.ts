import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { projectRoot } from '../../src/main/core/paths/app-paths.js';
import { MicrovmClient, MicrovmError, Sandbox, type SandboxEvent } from '../../src/sdk/index.js';
import { startTestDaemon, type TestDaemon } from '../support/daemon-harness.js';

// The snapshot surface end to end: the SDK over the API, and the CLI, against a real daemon.
let daemon: TestDaemon;
let sandbox: Sandbox;

beforeAll(async () => {
  daemon = await startTestDaemon();
  sandbox = await Sandbox.create({ socketPath: daemon.socketPath, name: 'snappy', memoryMiB: 256 });
});

afterAll(async () => {
  for (const info of await Sandbox.list({ socketPath: daemon.socketPath })) await (await Sandbox.connect(info.id, { socketPath: daemon.socketPath })).destroy();
  expect(await daemon.stop()).toEqual([]);
});

it('takes, lists, restores, forks and deletes snapshots through the SDK, with events', async () => {
  const events: SandboxEvent[] = [];
  const stop = new AbortController();
  const client = new MicrovmClient({ socketPath: daemon.socketPath });
  void client.events((event) => events.push(event), { signal: stop.signal });

  await sandbox.files.write('/root/A', 'A');
  const first = await sandbox.snapshots.create({ name: 'first', description: 'only A' });
  expect(first.snapshot).toMatchObject({ name: 'first', description: 'only A', parentId: null, current: true, sandboxId: sandbox.id, hypervisor: 'qemu', memoryMiB: 256, thumbnail: null });
  expect(first.snapshot.pauseMs).toBeGreaterThan(0);
  expect(first.snapshot).not.toHaveProperty('boot');
  await sandbox.files.write('/root/B', 'B');
  const second = await sandbox.snapshots.create();
  expect(second.snapshot).toMatchObject({ name: 'snap-2', parentId: first.snapshot.id });

  const restored = await sandbox.snapshots.restore(first.snapshot);
  expect(restored.state).toBe('running');
  expect(restored.currentSnapshotId).toBe(first.snapshot.id);
  expect(await sandbox.files.exists('/root/B')).toBe(false);
  const tree = await sandbox.snapshots.tree();
  expect(tree.current).toBe(first.snapshot.id);
  expect(tree.snapshots.map((s) => [s.name, s.current])).toEqual([['first', true], ['snap-2', false]]);

  const [fork] = await sandbox.fork(first.snapshot, { names: ['snappy-fork'] });
  expect(fork!.name).toBe('snappy-fork');
  expect((await fork!.exec('hostname; cat /root/A')).stdout).toBe('snappy-fork\nA');
  await fork!.destroy();

  await sandbox.snapshots.delete(second.snapshot.id);
  expect((await sandbox.snapshots.list()).map((s) => s.name)).toEqual(['first']);

  const missing = await sandbox.snapshots.restore('no-such-snapshot').catch((e: unknown) => e);
  expect(missing).toBeInstanceOf(MicrovmError);
  expect(missing).toMatchObject({ code: 'not_found', status: 404 });
  const duplicate = await sandbox.snapshots.create({ name: 'first' }).catch((e: unknown) => e);
  expect(duplicate).toMatchObject({ code: 'already_exists', status: 409 });
  const badName = await sandbox.snapshots.create({ name: 'bad/name' }).catch((e: unknown) => e);
  expect(badName).toMatchObject({ code: 'invalid_argument', message: expect.stringContaining('name') });

  stop.abort();
  const actions = events.filter((e): e is Extract<SandboxEvent, { type: 'snapshot' }> => e.type === 'snapshot').map((e) => `${e.action}:${e.snapshotName}`);
  expect(actions).toEqual(['created:first', 'created:snap-2', 'restored:first', 'deleted:snap-2']);
});

it('drives the same tree from the CLI, naming snapshots by name', async () => {
  const microvm = (args: string[]) => execa(process.execPath, [join(projectRoot(), 'bin', 'microvm.js'), ...args], { env: daemon.env, extendEnv: false, reject: false });
  const created = await microvm(['snapshot', 'create', 'snappy', '--name', 'from-cli']);
  expect(created.exitCode).toBe(0);
  expect(created.stdout).toBe('from-cli');
  expect(created.stderr).toMatch(/paused \d+ ms/);
  const listed = await microvm(['snapshot', 'ls', 'snappy']);
  expect(listed.stdout).toMatch(/^first\s/m);
  expect(listed.stdout).toMatch(/^ {2}\* from-cli\s/m);
  const json = JSON.parse((await microvm(['snapshot', 'ls', 'snappy', '--json'])).stdout) as { current: string; snapshots: { id: string; name: string }[] };
  expect(json.snapshots.find((s) => s.id === json.current)?.name).toBe('from-cli');
  expect((await microvm(['snapshot', 'restore', 'snappy', 'first'])).exitCode).toBe(0);
  const forked = await microvm(['snapshot', 'fork', 'snappy', 'first', '-n', '2']);
  expect(forked.exitCode).toBe(0);
  const names = forked.stdout.split('\n');
  expect(names).toHaveLength(2);
  expect((await microvm(['rm', ...names])).exitCode).toBe(0);
  expect((await microvm(['snapshot', 'rm', 'snappy', 'from-cli'])).stdout).toBe('from-cli');
  const unknown = await microvm(['snapshot', 'restore', 'snappy', 'nope']);
  expect(unknown.exitCode).toBe(3);
  expect(unknown.stderr).toBe('error: sandbox "snappy" has no snapshot with id or name "nope"');
});

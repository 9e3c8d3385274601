import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestDaemon, type TestDaemon } from '../support/daemon-harness.js';
import { call, createSandbox, expectProblem, ok, V1, type SandboxView, type Transport } from './api-http.js';

// Every lifecycle route, through the Unix socket and through TCP with the token.
let daemon: TestDaemon;
beforeAll(async () => {
  daemon = await startTestDaemon({ tcp: true });
});
afterAll(async () => {
  expect(await daemon.stop()).toEqual([]);
});

const transports: Transport[] = ['unix', 'tcp'];

describe.each(transports)('sandbox lifecycle over %s', (via) => {
  const name = `life-${via}`;
  let sandbox: SandboxView;

  it('creates a sandbox, answering 201 once it runs', async () => {
    sandbox = await ok<SandboxView>(daemon, 'POST', `${V1}/sandboxes`, {
      via,
      status: 201,
      json: { name, memoryMiB: 192, vcpus: 1, labels: { suite: 'api' } },
    });
    expect(sandbox).toMatchObject({ name, state: 'running', memoryMiB: 192, vcpus: 1, labels: { suite: 'api' }, hypervisor: 'qemu', template: 'minimal' });
    expect(sandbox.id).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('lists it and gets it by id and by name', async () => {
    const list = await ok<{ sandboxes: SandboxView[] }>(daemon, 'GET', `${V1}/sandboxes`, { via });
    expect(list.sandboxes.map((s) => s.id)).toContain(sandbox.id);
    expect(await ok(daemon, 'GET', `${V1}/sandboxes/${sandbox.id}`, { via })).toMatchObject({ id: sandbox.id, name });
    expect(await ok(daemon, 'GET', `${V1}/sandboxes/${name}`, { via })).toMatchObject({ id: sandbox.id, state: 'running' });
  });

  it('pauses and resumes: a paused sandbox refuses exec, a resumed one runs it', async () => {
    expect(await ok(daemon, 'POST', `${V1}/sandboxes/${name}/pause`, { via })).toMatchObject({ state: 'paused' });
    expectProblem(await call(daemon, 'POST', `${V1}/sandboxes/${name}/exec`, { via, json: { argv: ['true'] } }), 409, 'invalid_state');
    expectProblem(await call(daemon, 'POST', `${V1}/sandboxes/${name}/pause`, { via }), 409, 'invalid_state');
    expect(await ok(daemon, 'POST', `${V1}/sandboxes/${name}/resume`, { via })).toMatchObject({ state: 'running' });
    expect(await ok(daemon, 'POST', `${V1}/sandboxes/${name}/exec`, { via, json: { argv: ['hostname'] } })).toMatchObject({ exitCode: 0, stdout: `${name}\n` });
  });

  it('stops (with a JSON timeout body), refuses what a stopped sandbox cannot do, and starts again', async () => {
    expect(await ok(daemon, 'POST', `${V1}/sandboxes/${name}/stop`, { via, json: { timeoutMs: 30_000 } })).toMatchObject({ state: 'stopped' });
    expectProblem(await call(daemon, 'POST', `${V1}/sandboxes/${name}/pause`, { via }), 409, 'invalid_state');
    expectProblem(await call(daemon, 'POST', `${V1}/sandboxes/${name}/resume`, { via }), 409, 'invalid_state');
    expectProblem(await call(daemon, 'GET', `${V1}/sandboxes/${name}/files/stat?path=/`, { via }), 409, 'invalid_state');
    expect(await ok(daemon, 'POST', `${V1}/sandboxes/${name}/start`, { via })).toMatchObject({ state: 'running' });
    expectProblem(await call(daemon, 'POST', `${V1}/sandboxes/${name}/start`, { via }), 409, 'invalid_state');
  });

  it('restarts: the guest boots anew (what it held in RAM is gone)', async () => {
    await ok(daemon, 'POST', `${V1}/sandboxes/${name}/exec`, { via, json: { shell: 'echo before > /tmp/restart-marker' } });
    expect(await ok(daemon, 'POST', `${V1}/sandboxes/${name}/restart`, { via })).toMatchObject({ state: 'running' });
    const after = await ok<{ exitCode: number }>(daemon, 'POST', `${V1}/sandboxes/${name}/exec`, { via, json: { argv: ['test', '-e', '/tmp/restart-marker'] } });
    expect(after.exitCode).toBe(1);
  });

  it('deletes it (204); afterwards it is gone', async () => {
    const answer = await call(daemon, 'DELETE', `${V1}/sandboxes/${name}`, { via });
    expect(answer.status).toBe(204);
    expect(answer.body.length).toBe(0);
    expectProblem(await call(daemon, 'GET', `${V1}/sandboxes/${sandbox.id}`, { via }), 404, 'not_found');
    expectProblem(await call(daemon, 'DELETE', `${V1}/sandboxes/${name}`, { via }), 404, 'not_found');
    const list = await ok<{ sandboxes: SandboxView[] }>(daemon, 'GET', `${V1}/sandboxes`, { via });
    expect(list.sandboxes.map((s) => s.id)).not.toContain(sandbox.id);
  });
});

it('creates with every default from a POST without a body', async () => {
  const created = await ok<SandboxView>(daemon, 'POST', `${V1}/sandboxes`, { status: 201 });
  expect(created).toMatchObject({ state: 'running', vcpus: 1, memoryMiB: 256, template: 'minimal', labels: {} });
  expect(created.name).toMatch(/^[a-z0-9-]{1,63}$/);
  await ok(daemon, 'DELETE', `${V1}/sandboxes/${created.id}`, { status: 204 });
});

it('refuses a second sandbox with a taken name (409 already_exists) and a name that is no DNS label (400)', async () => {
  const first = await createSandbox(daemon, { name: 'taken', memoryMiB: 128 });
  try {
    expectProblem(await call(daemon, 'POST', `${V1}/sandboxes`, { json: { name: 'taken' } }), 409, 'already_exists');
    const bad = expectProblem(await call(daemon, 'POST', `${V1}/sandboxes`, { json: { name: 'Not_A_Label' } }), 400, 'invalid_argument');
    expect(bad.detail).toMatch(/name/);
  } finally {
    await ok(daemon, 'DELETE', `${V1}/sandboxes/${first.id}`, { status: 204 });
  }
});

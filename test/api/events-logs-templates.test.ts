import { cpus } from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestDaemon, type TestDaemon } from '../support/daemon-harness.js';
import { call, createSandbox, destroySandbox, expectProblem, ok, open, opened, openWebSocket, serverSentEvents, V1, type SandboxView } from './api-http.js';

interface StateEvent {
  type: 'state';
  id: string;
  name: string;
  state: string;
  reason: string | null;
  at: number;
}

let daemon: TestDaemon;
beforeAll(async () => {
  daemon = await startTestDaemon({ tcp: true });
});
afterAll(async () => {
  expect(await daemon.stop()).toEqual([]);
});

describe('events', () => {
  it('announce a create as creating → running and a delete as stopped, over SSE and the WebSocket alike', async () => {
    const sse = await open(daemon, 'GET', `${V1}/events`, { via: 'tcp' });
    expect(sse.statusCode).toBe(200);
    expect(sse.headers['content-type']).toBe('text/event-stream');
    const socket = openWebSocket(daemon, `${V1}/events/ws`);
    const fromSocket: StateEvent[] = [];
    socket.on('message', (data: Buffer) => {
      const event = JSON.parse(data.toString()) as StateEvent;
      if (event.type === 'state' && event.name === 'evented') fromSocket.push(event);
    });
    await opened(socket);

    const fromSse: StateEvent[] = [];
    const reading = (async () => {
      for await (const { event, data } of serverSentEvents(sse)) {
        const parsed = JSON.parse(data) as StateEvent;
        expect(event).toBe(parsed.type);
        if (parsed.type !== 'state' || parsed.name !== 'evented') continue;
        fromSse.push(parsed);
        if (parsed.reason === 'destroyed') return;
      }
    })();

    const sandbox = await createSandbox(daemon, { name: 'evented', memoryMiB: 128 });
    await destroySandbox(daemon, sandbox.id);
    await reading;
    sse.destroy();
    socket.close();

    for (const events of [fromSse, fromSocket]) {
      expect(events.map((e) => e.state)).toEqual(['creating', 'running', 'stopped']);
      expect(events.every((e) => e.id === sandbox.id)).toBe(true);
      expect(events.at(-1)).toMatchObject({ reason: 'destroyed' });
      expect(events[1]!.at).toBeGreaterThanOrEqual(events[0]!.at);
    }
  });
});

describe('serial console logs', () => {
  let sandbox: SandboxView;
  beforeAll(async () => {
    sandbox = await createSandbox(daemon, { name: 'logged', memoryMiB: 128 });
  });
  afterAll(async () => {
    if (sandbox) await destroySandbox(daemon, sandbox.id);
  });

  it('returns the console log as text/plain, and tail=N only its last N lines', async () => {
    await ok(daemon, 'POST', `${V1}/sandboxes/logged/exec`, { json: { shell: 'for i in 1 2 3 4 5; do echo "tail-line-$i" > /dev/console; done' } });
    let all = '';
    for (let i = 0; !all.includes('tail-line-5') && i < 50; i++) {
      if (i > 0) await new Promise((resolve) => setTimeout(resolve, 100));
      const answer = await call(daemon, 'GET', `${V1}/sandboxes/logged/logs`);
      expect(answer.status).toBe(200);
      expect(answer.headers['content-type']).toMatch(/^text\/plain/);
      all = answer.text;
    }
    expect(all).toMatch(/tail-line-1[^]*tail-line-5/);
    const tail = await call(daemon, 'GET', `${V1}/sandboxes/logged/logs?tail=3`, { via: 'tcp' });
    expect(tail.text.split(/\r?\n/).filter(Boolean)).toEqual(['tail-line-3', 'tail-line-4', 'tail-line-5']);
  });

  it('follow=true answers at once and keeps streaming what the guest writes to its console', async () => {
    const response = await open(daemon, 'GET', `${V1}/sandboxes/logged/logs?tail=0&follow=true`);
    expect(response.statusCode).toBe(200);
    let seen = '';
    const found = new Promise<void>((resolve) => {
      response.on('data', (chunk: Buffer) => {
        seen += chunk.toString();
        if (seen.includes('console-marker-2')) resolve();
      });
    });
    await ok(daemon, 'POST', `${V1}/sandboxes/logged/exec`, { json: { shell: 'echo console-marker-1 > /dev/console' } });
    await new Promise((resolve) => setTimeout(resolve, 500));
    await ok(daemon, 'POST', `${V1}/sandboxes/logged/exec`, { json: { shell: 'echo console-marker-2 > /dev/console' } });
    await found;
    response.destroy();
    expect(seen).toMatch(/console-marker-1[^]*console-marker-2/);
    expect(seen).not.toContain('tail-line-5');
  });

  it('refuses logs of an unknown sandbox (404) and a bad tail (400)', async () => {
    expectProblem(await call(daemon, 'GET', `${V1}/sandboxes/nobody/logs`), 404, 'not_found');
    expect(expectProblem(await call(daemon, 'GET', `${V1}/sandboxes/logged/logs?tail=many`), 400, 'invalid_argument').detail).toMatch(/tail/);
  });
});

describe('templates', () => {
  interface Template {
    name: string;
    built: boolean;
    default: boolean;
    sizeBytes: number | null;
    description: string;
  }

  it('lists the templates, the default one built', async () => {
    const { templates } = await ok<{ templates: Template[] }>(daemon, 'GET', `${V1}/templates`);
    expect(templates.find((t) => t.name === 'minimal')).toMatchObject({ built: true, default: true, sizeBytes: expect.any(Number) });
  });

  it('builds one (already up to date) and answers with it as JSON', async () => {
    const template = await ok<Template>(daemon, 'POST', `${V1}/templates/minimal/build`, { via: 'tcp' });
    expect(template).toMatchObject({ name: 'minimal', built: true });
  });

  it('streams the build as SSE progress events, then done', async () => {
    const response = await open(daemon, 'POST', `${V1}/templates/minimal/build`, { headers: { accept: 'text/event-stream' } });
    expect(response.headers['content-type']).toBe('text/event-stream');
    const events: { event: string; data: Record<string, unknown> }[] = [];
    for await (const { event, data } of serverSentEvents(response)) events.push({ event, data: JSON.parse(data) as Record<string, unknown> });
    expect(events.at(-1)).toMatchObject({ event: 'done', data: { name: 'minimal', built: true } });
    const progress = events.filter((e) => e.event === 'progress');
    expect(progress.length).toBeGreaterThan(0);
    expect(progress.at(-1)!.data).toMatchObject({ step: 'done', fraction: 1 });
  });

  it('answers an unknown template with 404, with or without SSE', async () => {
    expectProblem(await call(daemon, 'POST', `${V1}/templates/nonesuch/build`), 404, 'not_found');
    expectProblem(await call(daemon, 'POST', `${V1}/templates/nonesuch/build`, { headers: { accept: 'text/event-stream' } }), 404, 'not_found');
  });
});

describe('system, version, health and metrics', () => {
  it('GET /version, /health and /system describe the daemon and its host', async () => {
    expect(await ok(daemon, 'GET', `${V1}/version`)).toMatchObject({ apiVersion: 'v1', version: expect.any(String), agentProtocol: expect.any(Number), node: process.versions.node });
    const health = await ok<{ status: string; uptimeMs: number; sandboxes: number }>(daemon, 'GET', `${V1}/health`, { via: 'tcp' });
    expect(health).toMatchObject({ status: 'ok', sandboxes: 0 });
    expect(health.uptimeMs).toBeGreaterThan(0);
    const system = await ok<{ hypervisor: { chosen: string }; host: { cpus: number; memoryTotalMiB: number }; limits: { maxSandboxes: number } }>(daemon, 'GET', `${V1}/system`);
    expect(system.hypervisor.chosen).toBe('qemu');
    expect(system.host.cpus).toBe(cpus().length);
    expect(system.host.memoryTotalMiB).toBeGreaterThan(0);
    expect(system.limits.maxSandboxes).toBeGreaterThan(0);
  });

  it('GET /metrics has per-sandbox series and the daemon\'s own', async () => {
    const sandbox = await createSandbox(daemon, { name: 'metered', memoryMiB: 160, vcpus: 1 });
    try {
      await ok(daemon, 'GET', `${V1}/sandboxes/metered`);
      const answer = await call(daemon, 'GET', '/metrics', { via: 'tcp' });
      expect(answer.status).toBe(200);
      expect(answer.headers['content-type']).toMatch(/^text\/plain/);
      const sample = (name: string) => {
        const line = answer.text.split('\n').find((l) => l.startsWith(`${name}{`) && l.includes(`sandbox="${sandbox.id}"`));
        return line === undefined ? undefined : Number(line.split(' ').at(-1));
      };
      expect(sample('microvm_vmm_resident_memory_bytes')).toBeGreaterThan(10 * 1024 * 1024);
      expect(sample('microvm_sandbox_memory_configured_bytes')).toBe(160 * 1024 * 1024);
      expect(sample('microvm_sandbox_vcpus')).toBe(1);
      expect(sample('microvm_vmm_cpu_seconds_total')).toBeGreaterThan(0);
      expect(answer.text).toMatch(/^microvm_sandboxes\{state="running"\} 1$/m);
      expect(answer.text).toMatch(/^microvm_daemon_process_resident_memory_bytes \d+/m);
      expect(answer.text).toMatch(/^microvm_http_request_duration_seconds_count\{method="GET",route="\/api\/v1\/sandboxes\/:id",status="200"\} [1-9]/m);
      expect(answer.text).toMatch(/^microvm_sandbox_transitions_total\{state="running"\} [1-9]/m);
    } finally {
      await destroySandbox(daemon, sandbox.id);
    }
    const after = await call(daemon, 'GET', '/metrics');
    expect(after.text).not.toContain(sandbox.id);
  });
});

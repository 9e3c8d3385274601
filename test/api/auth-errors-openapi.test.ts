import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import SwaggerParser from '@apidevtools/swagger-parser';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildManagerlessApiServer } from '../support/managerless-api-server.js';
import { startTestDaemon, type TestDaemon } from '../support/daemon-harness.js';
import { call, expectProblem, open, opened, openWebSocket, V1 } from './api-http.js';

let daemon: TestDaemon;
beforeAll(async () => {
  // Info level, so the daemon's request log is there to be searched.
  daemon = await startTestDaemon({ tcp: true, captureOutput: true, logLevel: 'info' });
});
afterAll(async () => {
  expect(await daemon.stop()).toEqual([]);
});

interface AuditLine {
  requestId: string;
  transport: string;
  method: string;
  url: string;
  status: number;
  outcome: string;
}

const auditLines = async () =>
  (await readFile(join(daemon.dataDir, 'data', 'audit.log'), 'utf8'))
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as AuditLine);

describe('authentication on TCP', () => {
  it('refuses a request without a token and one with a wrong token (401), recording them only in the audit log', async () => {
    const none = await call(daemon, 'GET', `${V1}/sandboxes`, { via: 'tcp', token: null });
    expect(expectProblem(none, 401, 'unauthorized').detail).toMatch(/Authorization: Bearer/);
    expect(none.headers['www-authenticate']).toBe('Bearer');
    const wrong = await call(daemon, 'POST', `${V1}/sandboxes`, { via: 'tcp', token: 'not-the-token', json: { name: 'intruder' } });
    expect(expectProblem(wrong, 401, 'unauthorized').detail).toMatch(/not valid/);
    const metrics = await call(daemon, 'GET', '/metrics', { via: 'tcp', token: null });
    expectProblem(metrics, 401, 'unauthorized');
    const allowed = await call(daemon, 'GET', `${V1}/health`, { via: 'tcp' });
    expect(allowed.status).toBe(200);
    const unix = await call(daemon, 'GET', `${V1}/health`, { via: 'unix', token: null });
    expect(unix.status).toBe(200);

    // The refused create did nothing.
    expect((await call(daemon, 'GET', `${V1}/sandboxes`)).json()).toEqual({ sandboxes: [] });

    const refused = [none, wrong, metrics].map((answer) => answer.json<{ requestId: string }>().requestId);
    const audit = await auditLines();
    for (const [i, requestId] of refused.entries()) {
      expect(audit.find((line) => line.requestId === requestId)).toMatchObject({ transport: 'tcp', status: 401, outcome: 'denied', method: ['GET', 'POST', 'GET'][i] });
    }
    const log = daemon.output();
    expect(log).toContain(allowed.headers['x-request-id']);
    for (const requestId of refused) expect(log).not.toContain(requestId);
  });

  it('refuses a WebSocket upgrade without a token', async () => {
    const url = `${daemon.url!.replace(/^http/, 'ws')}${V1}/events/ws`;
    const { default: WebSocket } = await import('ws');
    const refusal = await opened(new WebSocket(url)).then(() => null, (error: { status: number; body: string }) => error);
    expect(refusal?.status).toBe(401);
    expect(JSON.parse(refusal!.body)).toMatchObject({ code: 'unauthorized' });
  });
});

describe('problem+json errors', () => {
  it.each([
    ['a wrong type', { vcpus: '2' }, /vcpus/],
    ['an unknown field', { name: 'ok', colour: 'red' }, /additional/],
    ['an invalid name', { name: 'Not_A_Label' }, /name/],
    ['a negative size', { memoryMiB: -5 }, /memoryMiB/],
  ])('a create body with %s is 400 invalid_argument', async (_what, json, detail) => {
    const answer = await call(daemon, 'POST', `${V1}/sandboxes`, { json });
    expect(expectProblem(answer, 400, 'invalid_argument').detail).toMatch(detail);
  });

  it('a body that is not JSON is 400 invalid_argument', async () => {
    const answer = await call(daemon, 'POST', `${V1}/sandboxes`, { body: '{"name": ', headers: { 'content-type': 'application/json' } });
    expectProblem(answer, 400, 'invalid_argument');
  });

  it('an unknown sandbox is 404 not_found, naming it', async () => {
    for (const [method, path] of [
      ['GET', `${V1}/sandboxes/ghost`],
      ['DELETE', `${V1}/sandboxes/ghost`],
      ['POST', `${V1}/sandboxes/ghost/stop`],
      ['GET', `${V1}/sandboxes/ghost/files?path=/`],
    ] as const) {
      expect(expectProblem(await call(daemon, method, path), 404, 'not_found').detail).toMatch(/ghost/);
    }
  });

  it('an unknown route is 404 route_not_found', async () => {
    expect(expectProblem(await call(daemon, 'GET', `${V1}/nothing-here`), 404, 'route_not_found').detail).toMatch(/nothing-here/);
    expectProblem(await call(daemon, 'POST', `${V1}/sandboxes/x/explode`), 404, 'route_not_found');
    expectProblem(await call(daemon, 'PATCH', `${V1}/sandboxes`, { via: 'tcp' }), 404, 'route_not_found');
  });
});

describe('the OpenAPI document', () => {
  type Operations = Record<string, Record<string, unknown>>;
  let doc: { openapi: string; paths: Operations };

  it('is valid OpenAPI 3', async () => {
    const answer = await call(daemon, 'GET', `${V1}/openapi.json`);
    expect(answer.status).toBe(200);
    doc = answer.json();
    expect(doc.openapi).toMatch(/^3\./);
    await expect(SwaggerParser.validate(structuredClone(doc) as never)).resolves.toBeDefined();
  });

  const documented = () =>
    Object.entries(doc.paths).flatMap(([path, operations]) =>
      Object.keys(operations)
        .filter((method) => ['get', 'post', 'put', 'delete', 'patch'].includes(method))
        .map((method) => `${method.toUpperCase()} ${path}`),
    );

  it('names only routes that exist: calling each never ends in route_not_found', async () => {
    const operations = documented();
    expect(operations.length).toBeGreaterThan(20);
    for (const operation of operations) {
      const [method, template] = operation.split(' ') as [string, string];
      const path = template.replace('{id}', 'no-such-sandbox').replace('{name}', 'no-such-template');
      if (path.endsWith('/ws')) {
        const socket = openWebSocket(daemon, path);
        const outcome = await opened(socket).then(
          () => 'open',
          (error: { body: string }) => JSON.parse(error.body).code as string,
        );
        socket.close();
        expect(outcome, operation).not.toBe('route_not_found');
        continue;
      }
      // A create that succeeded would boot a VM: its body is made invalid on purpose.
      const response = await open(daemon, method, path, operation === `POST ${V1}/sandboxes` ? { json: { name: 'Not_A_Label' } } : {});
      const body = response.headers['content-type']?.startsWith('application/problem+json') ? await new Response(response as never).json() : null;
      response.destroy();
      expect(body?.code, operation).not.toBe('route_not_found');
      expect(response.statusCode, operation).toBeLessThan(500);
    }
  });

  it('names every registered route', async () => {
    const dir = await mkdtemp(join(daemon.dataDir, 'routes-'));
    // Only the route table is read, never a request served: the routes need no working manager.
    const app = await buildManagerlessApiServer(dir);
    try {
      await app.ready();
      const registered = routesOf(app.printRoutes({ commonPrefix: false }))
        .filter((route) => !route.startsWith('HEAD ') && !route.includes(`${V1}/docs`) && !route.endsWith('/openapi.json'))
        .map((route) => route.replace(/:(\w+)/g, '{$1}'));
      expect(registered.length).toBeGreaterThan(20);
      expect(registered.filter((route) => !documented().includes(route))).toEqual([]);
    } finally {
      await app.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});

/** Reads `METHOD /path` pairs out of Fastify's printRoutes tree (each line: indent, branch, segment, (methods)). */
function routesOf(tree: string): string[] {
  const stack: string[] = [];
  const routes: string[] = [];
  for (const line of tree.split('\n')) {
    const match = /^((?:[│ ] {3})*)[├└]── (\S*)(?: \(([^)]*)\))?/.exec(line);
    if (!match) continue;
    const depth = match[1]!.length / 4;
    stack.length = depth;
    stack.push(match[2]!);
    if (match[3] === undefined || match[3] === '-') continue;
    const path = stack.join('');
    for (const method of match[3].split(', ')) routes.push(`${method} ${path}`);
  }
  return routes;
}

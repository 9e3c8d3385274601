import { afterAll, beforeAll, expect, it } from 'vitest';
import { startTestDaemon, type TestDaemon } from '../support/daemon-harness.js';
import { call, createSandbox, destroySandbox, V1, type SandboxView } from './api-http.js';

const VMS = 10;
const REQUESTS = 200;

let daemon: TestDaemon;
const sandboxes: SandboxView[] = [];
beforeAll(async () => {
  daemon = await startTestDaemon({ tcp: true });
});
afterAll(async () => {
  await Promise.all(sandboxes.map((sandbox) => destroySandbox(daemon, sandbox.id)));
  expect(await daemon.stop()).toEqual([]);
});

it(`answers ${REQUESTS} concurrent requests across ${VMS} sandboxes without an error`, async () => {
  sandboxes.push(...(await Promise.all(Array.from({ length: VMS }, (_, i) => createSandbox(daemon, { name: `load-${i}`, memoryMiB: i % 2 ? 128 : 256 })))));
  expect(sandboxes.every((s) => s.state === 'running')).toBe(true);

  const requests = Array.from({ length: REQUESTS }, (_, i) => {
    const sandbox = sandboxes[i % VMS]!;
    const via = i % 4 === 3 ? 'tcp' : 'unix';
    switch (i % 3) {
      case 0:
        return call(daemon, 'GET', `${V1}/sandboxes/${sandbox.id}`, { via }).then((answer) => ({ answer, check: () => answer.json().name === sandbox.name }));
      case 1:
        return call(daemon, 'POST', `${V1}/sandboxes/${sandbox.name}/exec`, { via, json: { argv: ['echo', `req-${i}`] } }).then((answer) => ({
          answer,
          check: () => answer.json().stdout === `req-${i}\n`,
        }));
      default:
        return call(daemon, 'GET', `${V1}/sandboxes/${sandbox.id}/files/stat?path=/tmp`, { via }).then((answer) => ({
          answer,
          check: () => answer.json().type === 'dir',
        }));
    }
  });
  const results = await Promise.all(requests);
  const failed = results.filter(({ answer, check }) => answer.status !== 200 || !check()).map(({ answer }) => `${answer.status} ${answer.text.slice(0, 200)}`);
  expect(failed).toEqual([]);
  expect(results).toHaveLength(REQUESTS);
});

import { afterAll, beforeAll, expect, it } from 'vitest';
import { startTestDaemon, type TestDaemon } from '../support/daemon-harness.js';

let daemon: TestDaemon;
beforeAll(async () => {
  daemon = await startTestDaemon({ tcp: true });
});
afterAll(async () => {
  expect(await daemon.stop()).toEqual([]);
});

it('answers health over TCP with its token', async () => {
  const response = await fetch(`${daemon.url}/api/v1/health`, { headers: { authorization: `Bearer ${daemon.token}` } });
  expect(response.status).toBe(200);
});

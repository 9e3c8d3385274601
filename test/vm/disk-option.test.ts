import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { projectRoot } from '../../src/main/core/paths/app-paths.js';
import { Sandbox } from '../../src/sdk/index.js';
import { call, V1 } from '../api/api-http.js';
import { startTestDaemon, type TestDaemon } from '../support/daemon-harness.js';

// diskMiB through the front doors (API, SDK, CLI) to the manager's check, against the
// minimal template, which has no disk: nothing boots.
describe('the disk size option at create', () => {
  let daemon: TestDaemon;

  beforeAll(async () => {
    daemon = await startTestDaemon();
  });

  afterAll(async () => {
    expect(await daemon.stop()).toEqual([]);
  });

  it('is refused for a template without a disk, naming diskMiB, in the API, the SDK and the CLI', async () => {
    const answer = await call(daemon, 'POST', `${V1}/sandboxes`, { json: { name: 'nodisk', template: 'minimal', diskMiB: 2048 } });
    expect(answer.status).toBe(400);
    expect(answer.json()).toMatchObject({ code: 'invalid_argument', detail: expect.stringContaining('diskMiB: the minimal template has no disk'), details: { field: 'diskMiB' } });

    const invalid = await call(daemon, 'POST', `${V1}/sandboxes`, { json: { template: 'minimal', diskMiB: 0 } });
    expect(invalid.status).toBe(400);
    expect(invalid.text).toContain('diskMiB');

    await expect(Sandbox.create({ socketPath: daemon.socketPath, template: 'minimal', diskMiB: 1024 })).rejects.toMatchObject({ code: 'invalid_argument', message: expect.stringContaining('diskMiB') });

    const cli = await execa(process.execPath, [join(projectRoot(), 'bin', 'microvm.js'), 'create', '--template', 'minimal', '--disk', '2G'], { env: daemon.env, extendEnv: false, reject: false });
    expect(cli.exitCode).toBe(2);
    expect(cli.stderr).toContain('diskMiB: the minimal template has no disk');
    const usage = await execa(process.execPath, [join(projectRoot(), 'bin', 'microvm.js'), 'create', '--disk', 'lots'], { env: daemon.env, extendEnv: false, reject: false });
    expect(usage.exitCode).toBe(2);
    expect(usage.stderr).toContain('--disk');

    expect((await call(daemon, 'GET', `${V1}/sandboxes`)).json()).toEqual({ sandboxes: [] });
  });
});

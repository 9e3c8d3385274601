import { execFile } from 'node:child_process';
import { mkdir, readFile, rm, rmdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { Sandbox } from '../../src/sdk/index.js';
import { startTestDaemon, type TestDaemon } from '../support/daemon-harness.js';

const run = promisify(execFile);
const root = join(import.meta.dirname, '..', '..');
const MARKER = '<!-- sdk-example: run by test/sdk/readme-example.test.ts -->';
// Inside the repository, so `import 'microvm-sandbox'` resolves to the package itself.
const tmpRoot = join(root, 'test', '.tmp');
const scratch = join(tmpRoot, `readme-example-${process.pid}`);

let daemon: TestDaemon;
beforeAll(async () => {
  await run('npm', ['run', '--silent', 'build:sdk'], { cwd: root });
  daemon = await startTestDaemon();
});
afterAll(async () => {
  await rm(scratch, { recursive: true, force: true });
  // test/.tmp goes too unless something else still uses it.
  await rmdir(tmpRoot).catch(() => undefined);
  expect(await daemon.stop()).toEqual([]);
});

async function readmeExample(): Promise<string> {
  const readme = await readFile(join(root, 'README.md'), 'utf8');
  const start = readme.indexOf(MARKER);
  expect(start, `README.md has the marker ${MARKER}`).toBeGreaterThanOrEqual(0);
  const block = /^```js\n([\s\S]*?)^```$/m.exec(readme.slice(start));
  expect(block, 'a ```js block follows the marker').not.toBeNull();
  return block![1]!;
}

it('runs the README example with plain node against the daemon', async () => {
  await mkdir(scratch, { recursive: true });
  const file = join(scratch, 'example.mjs');
  await writeFile(file, await readmeExample());
  const { stdout } = await run(process.execPath, [file], { cwd: scratch, env: daemon.env, timeout: 180_000 });
  const lines = stdout.trim().split('\n');
  expect(lines[0]).toMatch(/^guest says: hello from [a-z0-9][a-z0-9-]*$/);
  expect(lines.slice(1)).toEqual([
    'exit code: 0',
    'file says: write the docs',
    'background: tick 1',
    'background ended by SIGKILL',
    'error code: not_found',
  ]);
  // The example's finally destroyed its sandbox.
  expect(await Sandbox.list({ socketPath: daemon.socketPath })).toEqual([]);
});

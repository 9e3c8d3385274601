import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa, type Options } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appPaths, projectRoot } from '../../src/main/core/paths/app-paths.js';
import { processesMentioning } from '../../src/main/core/sandbox/host-resources.js';
import type { SandboxInfo } from '../../src/sdk/index.js';
import { startTestDaemon, type TestDaemon } from '../support/daemon-harness.js';

const BIN = join(projectRoot(), 'bin', 'microvm.js');
const NAME = 'cli-test';

function run(env: NodeJS.ProcessEnv, args: string[], options: Options = {}) {
  return execa(process.execPath, [BIN, ...args], { env, extendEnv: false, reject: false, stripFinalNewline: false, ...options });
}

const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');

describe('against a running daemon', () => {
  let daemon: TestDaemon;
  let work: string;
  const microvm = (args: string[], options: Options = {}) => run(daemon.env, args, options);

  beforeAll(async () => {
    daemon = await startTestDaemon();
    work = await mkdtemp(join(tmpdir(), 'microvm-cli-'));
  });
  afterAll(async () => {
    // Only needed when a test failed before `rm`; otherwise it reports not_found.
    await microvm(['rm', NAME]);
    expect(await daemon.stop()).toEqual([]);
    await rm(work, { recursive: true, force: true });
  });

  it('creates a sandbox and prints its name', async () => {
    const created = await microvm(['create', '--name', NAME, '--label', 'suite=cli', '--memory', '256']);
    expect(created.stderr).toBe('');
    expect(created.exitCode).toBe(0);
    expect(created.stdout).toBe(`${NAME}\n`);
  });

  it('lists and inspects it, as JSON and as text', async () => {
    const listed = await microvm(['ls', '--json']);
    expect(listed.exitCode).toBe(0);
    const sandboxes = JSON.parse(String(listed.stdout)) as SandboxInfo[];
    expect(sandboxes).toHaveLength(1);
    expect(sandboxes[0]).toMatchObject({ name: NAME, state: 'running', memoryMiB: 256, labels: { suite: 'cli' } });

    const table = await microvm(['ls']);
    expect(String(table.stdout).split('\n')[0]).toMatch(/^NAME\s+STATE\s+TEMPLATE/);
    expect(String(table.stdout)).toMatch(new RegExp(`^${NAME}\\s+running\\s`, 'm'));

    const inspected = await microvm(['inspect', sandboxes[0]!.id, '--json']);
    expect(JSON.parse(String(inspected.stdout))).toMatchObject({ id: sandboxes[0]!.id, name: NAME });
    const text = await microvm(['inspect', NAME]);
    expect(String(text.stdout)).toMatch(/^state:\s+running\b/m);
    expect(String(text.stdout)).toMatch(/^labels:\s+suite=cli$/m);
  });

  it('exec streams output as it comes, keeps stderr apart and exits with the guest status', async () => {
    const child = microvm(['exec', NAME, '--', 'sh', '-c', 'echo first; sleep 2; echo second'], { buffer: false });
    const firstChunkAt = new Promise<number>((resolve) => child.stdout!.once('data', () => resolve(Date.now())));
    const result = await child;
    const doneAt = Date.now();
    expect(result.exitCode).toBe(0);
    expect(doneAt - (await firstChunkAt)).toBeGreaterThan(1500);

    const failing = await microvm(['exec', NAME, 'sh', '-c', 'echo out; echo err >&2; exit 7']);
    expect(failing.exitCode).toBe(7);
    expect(failing.stdout).toBe('out\n');
    expect(failing.stderr).toBe('err\n');

    const killed = await microvm(['exec', NAME, '--', 'sh', '-c', 'kill -9 $$']);
    expect(killed.exitCode).toBe(137);

    const options = await microvm(['exec', '-e', 'GREETING=hi there', '-w', '/tmp', NAME, 'sh', '-c', 'echo "$GREETING in $(pwd)"']);
    expect(options.stdout).toBe('hi there in /tmp\n');
  });

  it('exec forwards stdin only with -i', async () => {
    const withStdin = await microvm(['exec', '-i', NAME, '--', 'cat'], { input: 'piped in\n' });
    expect(withStdin.exitCode).toBe(0);
    expect(withStdin.stdout).toBe('piped in\n');
    const without = await microvm(['exec', NAME, '--', 'cat'], { input: 'not forwarded\n' });
    expect(without.exitCode).toBe(0);
    expect(without.stdout).toBe('');
  });

  it('cp copies a file into the guest and back unchanged, and - reads stdin and writes stdout', async () => {
    const original = randomBytes(3 * 1024 * 1024 + 17);
    const source = join(work, 'payload.bin');
    await writeFile(source, original, { mode: 0o750 });
    const up = await microvm(['cp', source, `${NAME}:/tmp/`]);
    expect(up.stderr).toBe('');
    expect(up.exitCode).toBe(0);
    const inGuest = await microvm(['exec', NAME, 'sha256sum', '/tmp/payload.bin']);
    expect(String(inGuest.stdout).split(' ')[0]).toBe(sha256(original));

    const back = join(work, 'back.bin');
    const down = await microvm(['cp', `${NAME}:/tmp/payload.bin`, back]);
    expect(down.exitCode).toBe(0);
    expect(sha256(await readFile(back))).toBe(sha256(original));

    const fromStdin = await microvm(['cp', '-', `${NAME}:/tmp/stdin.txt`], { input: 'through stdin\n' });
    expect(fromStdin.exitCode).toBe(0);
    const toStdout = await microvm(['cp', `${NAME}:/tmp/stdin.txt`, '-']);
    expect(toStdout.exitCode).toBe(0);
    expect(toStdout.stdout).toBe('through stdin\n');
  });

  it('logs prints the serial console, --tail only its last lines', async () => {
    const wrote = await microvm(['exec', NAME, '--', 'sh', '-c', 'for i in 1 2 3 4; do echo "cli-marker-$i" > /dev/console; done']);
    expect(wrote.exitCode).toBe(0);
    const all = await microvm(['logs', NAME]);
    expect(all.exitCode).toBe(0);
    const lines = String(all.stdout).replaceAll('\r', '').split('\n');
    expect(lines.filter((line) => line.startsWith('cli-marker-'))).toEqual(['cli-marker-1', 'cli-marker-2', 'cli-marker-3', 'cli-marker-4']);
    const tail = await microvm(['logs', '--tail', '2', NAME]);
    expect(tail.exitCode).toBe(0);
    expect(String(tail.stdout).replaceAll('\r', '')).toBe('cli-marker-3\ncli-marker-4\n');
  });

  it('stops and starts the sandbox', async () => {
    const stopped = await microvm(['stop', NAME, '--json']);
    expect(stopped.exitCode).toBe(0);
    expect(JSON.parse(String(stopped.stdout))).toMatchObject({ name: NAME, state: 'stopped' });
    const refused = await microvm(['exec', NAME, '--', 'true']);
    expect(refused.exitCode).toBe(4);
    expect(refused.stderr).toMatch(/^error: /);

    const started = await microvm(['start', NAME]);
    expect(started.exitCode).toBe(0);
    expect(started.stdout).toBe(`${NAME}\n`);
    const alive = await microvm(['exec', NAME, '--', 'echo', 'back']);
    expect(alive.stdout).toBe('back\n');
  });

  it('reports an unknown sandbox with exit 3 and one error line, no stack', async () => {
    for (const args of [['inspect', 'no-such-sandbox'], ['exec', 'no-such-sandbox', '--', 'true'], ['cp', 'no-such-sandbox:/etc/hostname', '-']]) {
      const result = await microvm(args);
      expect(result.exitCode, args.join(' ')).toBe(3);
      expect(result.stderr).toMatch(/^error: no sandbox .*"no-such-sandbox"\n$/);
      expect(result.stdout).toBe('');
    }
  });

  it('exits 2 on a command line it cannot use', async () => {
    for (const args of [['frobnicate'], ['create', '--cpus', 'zero'], ['exec', NAME], ['cp', 'a', 'b'], ['serve', '--port', '0', '--host', '0.0.0.0']]) {
      const result = await microvm(args);
      expect(result.exitCode, args.join(' ')).toBe(2);
      expect(result.stderr, args.join(' ')).toMatch(/^error: /);
      expect(result.stderr).not.toMatch(/\n\s+at /);
    }
  });

  it('lists templates and builds one (already up to date here)', async () => {
    const listed = await microvm(['images', 'ls', '--json']);
    expect(listed.exitCode).toBe(0);
    const templates = JSON.parse(String(listed.stdout)) as { name: string; built: boolean; default: boolean }[];
    const fallback = templates.find((t) => t.default);
    expect(fallback).toMatchObject({ built: true });
    const built = await microvm(['images', 'build', '--json']);
    expect(built.exitCode).toBe(0);
    expect(JSON.parse(String(built.stdout))).toMatchObject({ name: fallback!.name, built: true });
    // Progress arrives as the daemon's build events, as plain lines when stderr is not a terminal.
    expect(String(built.stderr)).toMatch(/100% /);
    expect((await microvm(['images', 'build', 'no-such-template'])).exitCode).toBe(3);
  });

  it('removes the sandbox', async () => {
    const removed = await microvm(['rm', '-f', NAME]);
    expect(removed.exitCode).toBe(0);
    expect(removed.stdout).toBe(`${NAME}\n`);
    const listed = await microvm(['ls', '--json']);
    expect(JSON.parse(String(listed.stdout))).toEqual([]);
  });
});

describe('without a running daemon', () => {
  let dataDir: string;
  let env: NodeJS.ProcessEnv;
  let daemonPid: number | undefined;

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'microvm-cli-autostart-'));
    env = { ...process.env, MICROVM_DATA_DIR: dataDir, MICROVM_IMAGES_DIR: appPaths().images, MICROVM_LOG_LEVEL: 'warn' };
    delete env.MICROVM_SOCKET;
    delete env.MICROVM_URL;
    delete env.MICROVM_TOKEN;
  });
  afterAll(async () => {
    if (daemonPid !== undefined) await stopProcess(daemonPid);
    expect(await processesMentioning(`${dataDir}/`)).toEqual([]);
    await rm(dataDir, { recursive: true, force: true });
  });

  it('version and doctor do not start one', async () => {
    const version = await run(env, ['version', '--json']);
    expect(version.exitCode).toBe(0);
    expect(JSON.parse(String(version.stdout))).toMatchObject({ daemon: null });
    expect(version.stderr).toBe('');

    const doctor = await run(env, ['doctor', '--json']);
    expect(doctor.exitCode).toBe(0);
    const report = JSON.parse(String(doctor.stdout)) as { chosen: string; daemon: { running: boolean } };
    expect(['qemu', 'cloud-hypervisor']).toContain(report.chosen);
    expect(report.daemon.running).toBe(false);
    expect(doctor.stderr).not.toMatch(/started the microvm daemon/);
  });

  it('ls starts the daemon in the background, says so, and the next command finds it', async () => {
    const first = await run(env, ['ls', '--json']);
    expect(first.exitCode).toBe(0);
    expect(JSON.parse(String(first.stdout))).toEqual([]);
    const notice = /^started the microvm daemon in the background \(pid (\d+), log (.+)\)$/m.exec(String(first.stderr));
    expect(notice, String(first.stderr)).not.toBeNull();
    daemonPid = Number(notice![1]);
    expect(notice![2]).toBe(join(dataDir, 'data', 'daemon.log'));

    const second = await run(env, ['ls']);
    expect(second.exitCode).toBe(0);
    expect(second.stderr).toBe('');
    const version = await run(env, ['version', '--json']);
    expect(JSON.parse(String(version.stdout)).daemon).toMatchObject({ apiVersion: 'v1' });
  });

  it('serve refuses while that daemon answers (exit 4), then serves TCP with the token once it is gone', async () => {
    const refused = await run(env, ['serve']);
    expect(refused.exitCode).toBe(4);
    expect(refused.stderr).toMatch(/^error: a daemon is already running on /);
    await stopProcess(daemonPid!);
    daemonPid = undefined;

    const serve = run(env, ['serve', '--port', '0'], { buffer: false });
    const url = await new Promise<string>((resolve, reject) => {
      let seen = '';
      serve.stdout!.on('data', (chunk: Buffer) => {
        seen += chunk.toString();
        const match = /on (http:\/\/127\.0\.0\.1:\d+) /.exec(seen);
        if (match) resolve(match[1]!);
      });
      void serve.then(() => reject(new Error(`serve exited before listening: ${seen}`)));
    });
    const token = String((await run(env, ['token', 'show'])).stdout).trim();
    expect((await fetch(`${url}/api/v1/health`, { headers: { authorization: `Bearer ${token}` } })).status).toBe(200);
    expect((await fetch(`${url}/api/v1/health`)).status).toBe(401);
    serve.kill('SIGTERM');
    expect((await serve).exitCode).toBe(0);
  });
});

/** Alive and not a zombie: a daemon whose parent (the CLI) has exited is reaped by whatever init this machine has. */
async function alive(pid: number): Promise<boolean> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => null);
  return stat !== null && stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
}

async function stopProcess(pid: number): Promise<void> {
  if (!(await alive(pid))) return;
  process.kill(pid, 'SIGTERM');
  for (let waited = 0; waited < 30_000; waited += 100) {
    if (!(await alive(pid))) return;
    await sleep(100);
  }
  process.kill(pid, 'SIGKILL');
}

import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Sandbox } from '../../src/sdk/index.js';
import { startTestDaemon, type TestDaemon } from '../support/daemon-harness.js';

// The ai-agent template (images/templates/ai-agent.json) as a user gets it: a Debian disk
// with Python and Node, no network, so installs come from packages the test ships in.

const DISK_MIB = 3072;

let daemon: TestDaemon;
let sandbox: Sandbox;
let work: string;

/** Runs a shell line in the guest and returns its stdout, failing with its stderr. */
async function sh(line: string): Promise<string> {
  const result = await sandbox.exec(['/bin/sh', '-c', line], { timeoutMs: 240_000 });
  expect(result.exitCode, `${line}\n${result.stderr}`).toBe(0);
  return result.stdout;
}

/** A pure-Python wheel built by the host's python3 from nothing but the standard library. */
async function makeWheel(dir: string): Promise<string> {
  const path = join(dir, 'hello_mvm-0.1-py3-none-any.whl');
  const script = `
import base64, hashlib, sys, zipfile
files = {
  "hello_mvm/__init__.py": "def greet():\\n    return 'hello from a local wheel'\\n",
  "hello_mvm-0.1.dist-info/METADATA": "Metadata-Version: 2.1\\nName: hello-mvm\\nVersion: 0.1\\n",
  "hello_mvm-0.1.dist-info/WHEEL": "Wheel-Version: 1.0\\nGenerator: microvm-test\\nRoot-Is-Purelib: true\\nTag: py3-none-any\\n",
}
record = []
with zipfile.ZipFile(sys.argv[1], "w") as z:
    for name, text in files.items():
        data = text.encode()
        z.writestr(name, data)
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{name},sha256={digest},{len(data)}")
    record.append("hello_mvm-0.1.dist-info/RECORD,,")
    z.writestr("hello_mvm-0.1.dist-info/RECORD", "\\n".join(record) + "\\n")
`;
  await execa('python3', ['-c', script, path]);
  return path;
}

/** An npm package tarball made with `npm pack` on the host. */
async function makeNpmTarball(dir: string): Promise<string> {
  const pkg = join(dir, 'hello-mvm-npm');
  await mkdir(pkg);
  await writeFile(join(pkg, 'package.json'), JSON.stringify({ name: 'hello-mvm-npm', version: '1.0.0', main: 'index.js', license: 'MIT' }));
  await writeFile(join(pkg, 'index.js'), "exports.greet = () => 'hello from a local tarball';\n");
  const { stdout } = await execa('npm', ['pack', '--silent', '--pack-destination', dir], { cwd: pkg });
  return join(dir, stdout.trim().split('\n').pop()!);
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'microvm-ai-agent-'));
  daemon = await startTestDaemon();
  // Built by the test command beforehand (cached); building here too makes the file stand alone.
  await execa(process.execPath, ['--import', 'tsx', 'src/main/cli/build-image.ts', 'ai-agent'], { env: daemon.env, stdio: 'inherit' });
  sandbox = await Sandbox.create({ template: 'ai-agent', diskMiB: DISK_MIB, socketPath: daemon.socketPath });
});

afterAll(async () => {
  await sandbox?.destroy();
  if (daemon) expect(await daemon.stop()).toEqual([]);
  await rm(work, { recursive: true, force: true });
});

describe('the ai-agent template', () => {
  it('boots from its own disk with the template sizes', () => {
    expect(sandbox.info).toMatchObject({ template: 'ai-agent', state: 'running', vcpus: 2, memoryMiB: 1024, diskMiB: DISK_MIB });
  });

  it('runs python3 -c and node -e', async () => {
    expect(await sh('python3 -c "import sys; print(sys.version_info[0] * 7)"')).toBe('21\n');
    expect(await sh('node -e "console.log([1, 2, 3].map((n) => n * 2).join(\',\'))"')).toBe('2,4,6\n');
  });

  it('installs a local wheel with pip in a venv', async () => {
    const wheel = await makeWheel(work);
    await sandbox.files.write('/tmp/hello_mvm-0.1-py3-none-any.whl', await readFile(wheel));
    await sh('python3 -m venv /root/venv');
    await sh('/root/venv/bin/pip install --no-index --disable-pip-version-check /tmp/hello_mvm-0.1-py3-none-any.whl');
    expect(await sh('/root/venv/bin/python -c "import hello_mvm; print(hello_mvm.greet())"')).toBe('hello from a local wheel\n');
  });

  it('installs a local tarball with npm', async () => {
    const tarball = await makeNpmTarball(work);
    await sandbox.files.write('/tmp/hello-mvm-npm-1.0.0.tgz', await readFile(tarball));
    await sh('mkdir -p /root/app && cd /root/app && npm install --offline --no-audit --no-fund /tmp/hello-mvm-npm-1.0.0.tgz');
    expect(await sh('cd /root/app && node -e "console.log(require(\'hello-mvm-npm\').greet())"')).toBe('hello from a local tarball\n');
  });

  it('grows its file system to the requested disk size', async () => {
    const [, size] = (await sh('df -m --output=source,size / | tail -1')).trim().split(/\s+/);
    // ext4 keeps some of the device for its own metadata.
    expect(Number(size)).toBeGreaterThan(DISK_MIB * 0.9);
    expect(Number(size)).toBeLessThanOrEqual(DISK_MIB);
  });
});

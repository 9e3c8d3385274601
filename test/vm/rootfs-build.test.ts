import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BuildProgress } from '../../src/main/core/build/progress.js';
import { TemplateCatalog } from '../../src/main/core/images/template-catalog.js';
import { appPaths, projectRoot } from '../../src/main/core/paths/app-paths.js';
import { call, expectProblem, ok, open, serverSentEvents, V1 } from '../api/api-http.js';
import { startTestDaemon, type TestDaemon } from '../support/daemon-harness.js';

/**
 * Rootfs templates built for real with mmdebstrap (as root here), kept small: a user
 * template of Debian's apt variant plus `hello` (about 300 MiB of image, half a minute).
 * The ai-agent image itself is built once by the test command, not here.
 */

const suffix = randomBytes(3).toString('hex');
const TINY = `vt-tiny-${suffix}`;
const BAD_PACKAGE = `vt-badpkg-${suffix}`;
const BAD_SETUP = `vt-badsetup-${suffix}`;
const BROKEN = `vt-broken-${suffix}`;
const NAMES = [TINY, BAD_PACKAGE, BAD_SETUP, BROKEN];
const ROOTFS = { kind: 'rootfs', base: 'debian-bookworm' };

let daemon: TestDaemon;
let userTemplates: string;
let catalog: TemplateCatalog;

beforeAll(async () => {
  daemon = await startTestDaemon();
  // The daemon reads user templates from its config dir; the in-process catalog reads the same files.
  userTemplates = join(daemon.dataDir, 'config', 'templates');
  await mkdir(userTemplates, { recursive: true });
  const write = (name: string, definition: unknown) => writeFile(join(userTemplates, `${name}.json`), JSON.stringify(definition, null, 2));
  await write(TINY, {
    ...ROOTFS,
    description: 'debian + hello + a setup line',
    packages: ['hello'],
    setup: ['hello > /root/greeting', 'test "$(cat /root/greeting)" = "Hello, world!"'],
    defaults: { vcpus: 1, memoryMiB: 256, diskMiB: 1024 },
    services: [{ name: 'greeter', argv: ['/usr/bin/hello', '--greeting=hi'], env: { LANG: 'C.UTF-8' } }],
  });
  await write(BAD_PACKAGE, { ...ROOTFS, description: 'a misspelt package', packages: ['hello', 'pyhton3'] });
  await write(BAD_SETUP, { ...ROOTFS, description: 'a failing setup line', setup: ['echo one', 'echo about to fail; false', 'echo never'] });
  await write(BROKEN, { ...ROOTFS, description: 'a bad definition', packages: ['hello'], servics: [] });
  catalog = new TemplateCatalog({ directories: { builtin: join(projectRoot(), 'images', 'templates'), user: userTemplates } });
});

afterAll(async () => {
  expect(await daemon.stop()).toEqual([]);
  for (const name of NAMES) {
    await rm(join(appPaths().images, name), { recursive: true, force: true });
    await rm(join(appPaths().cache, 'build-logs', `${name}.log`), { force: true });
  }
});

/** What is left under a template's images directory (image dirs and `.build-*` work dirs). */
async function leftovers(name: string): Promise<string[] | null> {
  return readdir(join(appPaths().images, name)).catch(() => null);
}

async function debugfs(image: string, command: string): Promise<string> {
  const { stdout } = await execa('debugfs', ['-R', command, image], { stderr: 'ignore' });
  return stdout;
}

/** A directory's entries in an ext4 image (debugfs `ls -p` lines are /inode/mode/uid/gid/name/size/). */
async function entries(image: string, dir: string): Promise<string[]> {
  return (await debugfs(image, `ls -p ${dir}`))
    .split('\n')
    .map((line) => line.split('/')[5])
    .filter((name): name is string => !!name && name !== '.' && name !== '..');
}

describe('rootfs templates', () => {
  it('builds a small user template from Debian packages, with progress, into a checked ext4 image', async () => {
    const events: BuildProgress[] = [];
    const image = await catalog.image(TINY, (e) => events.push(e));

    expect(image.cached).toBe(false);
    expect(image.dir).toBe(join(appPaths().images, TINY, image.key));
    expect(image.rootfs).toBe(join(image.dir, 'rootfs.ext4'));
    expect(image.cmdline).toMatch(/ microvm\.root=\/dev\/vda microvm\.rootfstype=ext4$/);
    expect(image.template).toEqual({
      name: TINY,
      kind: 'rootfs',
      defaults: { vcpus: 1, memoryMiB: 256, diskMiB: 1024 },
      display: null,
      services: [{ name: 'greeter', argv: ['/usr/bin/hello', '--greeting=hi'], env: { LANG: 'C.UTF-8' } }],
    });
    const rootfs = image.rootfs!;
    expect((await stat(rootfs)).size).toBe(image.rootfsBytes);
    expect(image.rootfsBytes).toBeGreaterThanOrEqual(256 * 1024 * 1024);
    for (const file of ['vmlinuz', 'initrd.img', 'manifest.json']) expect((await stat(join(image.dir, file))).size).toBeGreaterThan(0);

    // Progress: rising fractions through mmdebstrap's phases and the setup lines, ending at 1.
    const fractions = events.map((e) => e.fraction ?? 0);
    expect(fractions).toEqual([...fractions].sort((a, b) => a - b));
    expect(events.map((e) => e.step)).toEqual(expect.arrayContaining(['bootstrap', 'packages', 'setup', 'mke2fs', 'done']));
    expect(events.some((e) => e.message === 'setup line 1/2: hello > /root/greeting')).toBe(true);
    expect(events.at(-1)).toMatchObject({ step: 'done', fraction: 1 });

    // A sound ext4 file system labelled rootfs, with the agent, its service list and the setup's output.
    await execa('e2fsck', ['-f', '-n', rootfs]);
    expect((await execa('blkid', ['-o', 'export', rootfs])).stdout).toMatch(/LABEL=rootfs[\s\S]*TYPE=ext4/);
    expect(await debugfs(rootfs, 'stat /usr/bin/microvm-agent')).toMatch(/Mode:\s+0755/);
    expect(JSON.parse(await debugfs(rootfs, 'cat /etc/microvm/services.json'))).toEqual(image.template!.services);
    expect(JSON.parse(await debugfs(rootfs, 'cat /etc/microvm/template.json'))).toMatchObject({ name: TINY, display: null });
    expect(await debugfs(rootfs, 'cat /root/greeting')).toBe('Hello, world!');
    expect(await debugfs(rootfs, 'stat /usr/bin/hello')).toMatch(/Type: regular/);
    expect(await debugfs(rootfs, 'stat /usr/sbin/resize2fs')).toMatch(/Type: regular/);
    // apt's lists and caches are not shipped (no guest network yet), and nothing was left in /tmp.
    expect((await entries(rootfs, '/var/lib/apt/lists')).sort()).toEqual(['auxfiles', 'lock', 'partial']);
    expect(await entries(rootfs, '/tmp')).toEqual([]);

    const manifest = JSON.parse(await readFile(join(image.dir, 'manifest.json'), 'utf8')) as Record<string, unknown>;
    expect(manifest).toMatchObject({ key: image.key, template: TINY, kind: 'rootfs', buildMode: 'root', rootfsBytes: image.rootfsBytes });
    expect(manifest.installed).toEqual(expect.arrayContaining([expect.stringMatching(/^hello=/), expect.stringMatching(/^e2fsprogs=/)]));
    expect(await leftovers(TINY)).toEqual([image.key]);
  });

  it('a second build is a cache hit, "up to date", through the API with SSE progress', async () => {
    const started = Date.now();
    const response = await open(daemon, 'POST', `${V1}/templates/${TINY}/build`, { headers: { accept: 'text/event-stream' } });
    const events: { event: string; data: Record<string, unknown> }[] = [];
    for await (const { event, data } of serverSentEvents(response)) events.push({ event, data: JSON.parse(data) as Record<string, unknown> });
    expect(Date.now() - started).toBeLessThan(30_000);
    expect(events.at(-1)).toMatchObject({ event: 'done', data: { name: TINY, kind: 'rootfs', source: 'user', built: true, defaults: { diskMiB: 1024 } } });
    const progress = events.filter((e) => e.event === 'progress').map((e) => e.data);
    expect(progress.at(-1)).toMatchObject({ step: 'done', fraction: 1, message: expect.stringContaining('up to date') });
    expect(progress.some((p) => p.step === 'bootstrap')).toBe(false);

    // In process, a fresh catalog (no memory of the first build) finds it too.
    const again = await new TemplateCatalog({ directories: { builtin: join(projectRoot(), 'images', 'templates'), user: userTemplates } }).image(TINY);
    expect(again.cached).toBe(true);
  });

  it('lists the built-in templates with kind and defaults, the user template, and broken files under errors', async () => {
    const { templates, errors } = await ok<{ templates: Record<string, unknown>[]; errors: Record<string, unknown>[] }>(daemon, 'GET', `${V1}/templates`);
    const byName = Object.fromEntries(templates.map((t) => [t.name, t]));
    expect(byName.minimal).toMatchObject({ kind: 'initramfs', source: 'builtin', built: true, defaults: { vcpus: 1, memoryMiB: 256, diskMiB: null }, display: null });
    expect(byName['ai-agent']).toMatchObject({ kind: 'rootfs', source: 'builtin', defaults: { vcpus: 2, memoryMiB: 1024, diskMiB: 4096 }, display: null });
    expect(byName.desktop).toMatchObject({ kind: 'rootfs', source: 'builtin', display: { width: 1280, height: 800, depth: 24 }, built: expect.any(Boolean) });
    expect(byName[TINY]).toMatchObject({ kind: 'rootfs', source: 'user', built: true, sizeBytes: expect.any(Number) });
    expect(byName[BROKEN]).toBeUndefined();
    expect(errors).toEqual([{ name: BROKEN, file: join(userTemplates, `${BROKEN}.json`), message: expect.stringContaining(`${BROKEN}.json: servics: unknown field`) }]);

    // Building the broken one is refused with the same message, before any stream starts.
    const refused = expectProblem(await call(daemon, 'POST', `${V1}/templates/${BROKEN}/build`, { headers: { accept: 'text/event-stream' } }), 500, 'invalid_config');
    expect(refused.detail).toContain('servics: unknown field');
  });

  it('a misspelt Debian package fails the build, naming the package, and leaves no image', async () => {
    const answer = await call(daemon, 'POST', `${V1}/templates/${BAD_PACKAGE}/build`);
    expect(expectProblem(answer, 500, 'build_failed').detail).toBe(`template ${BAD_PACKAGE}: Debian package "pyhton3" does not exist in Debian bookworm (main)`);
    expect(await leftovers(BAD_PACKAGE)).toBeNull();
  });

  it('a failing setup line fails the build, naming the line, and leaves no image', async () => {
    const response = await open(daemon, 'POST', `${V1}/templates/${BAD_SETUP}/build`, { headers: { accept: 'text/event-stream' } });
    const events: { event: string; data: Record<string, unknown> }[] = [];
    for await (const { event, data } of serverSentEvents(response)) events.push({ event, data: JSON.parse(data) as Record<string, unknown> });
    expect(events.some((e) => e.event === 'progress' && e.data.step === 'setup')).toBe(true);
    const last = events.at(-1)!;
    expect(last).toMatchObject({ event: 'error', data: { code: 'build_failed' } });
    expect(String(last.data.detail)).toMatch(new RegExp(`^template ${BAD_SETUP}: setup line 2 \\("echo about to fail; false"\\) failed with exit status 1; its output ended with:\\n  about to fail\\n`));
    expect(await leftovers(BAD_SETUP)).toBeNull();
  });

  it('leaves the host\'s own apt lists alone', async () => {
    // mmdebstrap's apt cleanup once ran against the host when the tree's /tmp was emptied under it.
    const lists = await readdir('/var/lib/apt/lists');
    expect(lists.filter((f) => f.endsWith('_InRelease')).length).toBeGreaterThan(0);
  });
});

import { mkdirSync, readFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { decideBuildMode, hasSubordinateRange, type PrivilegeFacts } from '../../src/main/core/images/build-privilege.js';
import { aptListsReleaseFile, mirrorsFor, parseAptSources, releaseDate, sourceLine } from '../../src/main/core/images/debian-sources.js';
import { explainMmdebstrapFailure, MmdebstrapProgress } from '../../src/main/core/images/mmdebstrap-output.js';
import { customizeScript } from '../../src/main/core/images/rootfs-image-builder.js';
import { TemplateCatalog } from '../../src/main/core/images/template-catalog.js';
import { loadTemplateDefinitions, parseTemplateDefinition } from '../../src/main/core/images/template-definition.js';
import type { BuildProgress } from '../../src/main/core/build/progress.js';

const BUILTIN = join(import.meta.dirname, '..', '..', 'images', 'templates');

let dir: string;
let userDir: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'microvm-templates-'));
  userDir = join(dir, 'templates');
  mkdirSync(userDir);
});

afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

const ROOTFS = { description: 'a test template', kind: 'rootfs', base: 'debian-bookworm' };

/** The message a user file gets, loaded next to the built-ins. */
function refusal(name: string, json: unknown): string {
  writeFileSync(join(userDir, `${name}.json`), typeof json === 'string' ? json : JSON.stringify(json));
  const { errors } = loadTemplateDefinitions({ builtin: BUILTIN, user: userDir });
  const error = errors.find((e) => e.name === name);
  if (!error) throw new Error(`expected ${name}.json to be refused`);
  return error.message;
}

describe('template definitions', () => {
  it('loads the built-in templates with their defaults', () => {
    const { definitions, errors } = loadTemplateDefinitions({ builtin: BUILTIN, user: join(dir, 'absent') });
    expect(errors).toEqual([]);
    const byName = Object.fromEntries(definitions.map((d) => [d.name, d]));
    expect(Object.keys(byName).sort()).toEqual(['ai-agent', 'desktop', 'minimal']);
    expect(byName.minimal).toMatchObject({ kind: 'initramfs', base: null, packages: [], defaults: { vcpus: 1, memoryMiB: 256 }, display: null, source: 'builtin' });
    expect(byName.minimal?.defaults.diskMiB).toBeUndefined();
    expect(byName['ai-agent']).toMatchObject({ kind: 'rootfs', base: 'debian-bookworm', defaults: { vcpus: 2, memoryMiB: 1024, diskMiB: 4096 }, display: null });
    expect(byName['ai-agent']?.packages).toEqual(expect.arrayContaining(['python3', 'python3-venv', 'python3-pip', 'nodejs', 'npm', 'git', 'curl', 'ca-certificates', 'build-essential', 'e2fsprogs']));
    expect(byName.desktop).toMatchObject({ kind: 'rootfs', display: { width: 1280, height: 800, depth: 24 } });
    expect(byName.desktop?.packages).toEqual(expect.arrayContaining([...(byName['ai-agent']?.packages ?? []), 'xvfb', 'x11vnc', 'xdotool', 'chromium']));
    expect(byName.desktop?.services.map((s) => s.name)).toEqual(['xvfb', 'openbox', 'x11vnc']);
  });

  it('fills {display.*} in service arguments from the display, so another resolution is a one-field change', () => {
    const desktop = JSON.parse(readFileSync(join(BUILTIN, 'desktop.json'), 'utf8')) as { display: { width: number; height: number } };
    writeFileSync(join(userDir, 'desktop-hd.json'), JSON.stringify({ ...desktop, display: { ...desktop.display, width: 1920, height: 1080 } }));
    const { definitions, errors } = loadTemplateDefinitions({ builtin: BUILTIN, user: userDir });
    expect(errors).toEqual([]);
    const hd = definitions.find((d) => d.name === 'desktop-hd')!;
    expect(hd.services.find((s) => s.name === 'xvfb')!.argv).toEqual(['/usr/bin/Xvfb', ':0', '-screen', '0', '1920x1080x24', '-nolisten', 'tcp']);
    expect(definitions.find((d) => d.name === 'desktop')!.services.find((s) => s.name === 'xvfb')!.argv).toContain('1280x800x24');
    const service = { name: 'x', argv: ['/bin/x', '--size={display.width}'] };
    expect(refusal('headless', { ...ROOTFS, services: [service] })).toMatch(/services\[0\]\.argv\[1\]: uses \{display\.width\} but the template has no display/);
    expect(refusal('typo', { ...ROOTFS, display: { width: 800, height: 600, depth: 24 }, services: [{ ...service, argv: ['/bin/x', '{display.wdth}'] }] })).toMatch(
      /services\[0\]\.argv\[1\]: \{display\.wdth\} is not known/,
    );
  });

  it('loads a user template ("debian + these packages + this script") and fills in defaults', () => {
    writeFileSync(join(userDir, 'mine.json'), JSON.stringify({ ...ROOTFS, packages: ['hello', 'g++', 'libstdc++6'], setup: ['hello > /root/hi'] }));
    const { definitions, errors } = loadTemplateDefinitions({ builtin: BUILTIN, user: userDir });
    expect(errors).toEqual([]);
    expect(definitions.find((d) => d.name === 'mine')).toMatchObject({
      source: 'user',
      packages: ['hello', 'g++', 'libstdc++6'],
      setup: ['hello > /root/hi'],
      services: [],
      display: null,
      defaults: { vcpus: 1, memoryMiB: 512, diskMiB: 2048 },
    });
  });

  it('refuses an unknown field, naming the file and the field', () => {
    const message = refusal('typo', { ...ROOTFS, pakages: ['hello'] });
    expect(message).toBe(`${join(userDir, 'typo.json')}: pakages: unknown field; known fields here: description, kind, base, packages, setup, defaults, display, services`);
  });

  it('refuses an unknown field inside a service', () => {
    expect(refusal('svc', { ...ROOTFS, services: [{ name: 'a', argv: ['x'], restart: true }] })).toContain('svc.json: services[0].restart: unknown field');
  });

  it('refuses a wrong type', () => {
    expect(refusal('types', { ...ROOTFS, defaults: { vcpus: '2' } })).toContain('types.json: defaults.vcpus: expected a whole number of vCPUs, 1 to 64, got "2"');
    expect(refusal('types2', { ...ROOTFS, packages: 'hello' })).toContain('types2.json: packages: expected an array of Debian package names, got "hello"');
    expect(refusal('types3', { ...ROOTFS, display: 5 })).toContain('types3.json: display: expected null or an object {width, height, depth}, got number 5');
  });

  it('refuses a bad package name, naming its index', () => {
    expect(refusal('pkg', { ...ROOTFS, packages: ['hello', 'Python3'] })).toBe(
      `${join(userDir, 'pkg.json')}: packages[1]: expected a Debian package name (lowercase letters, digits, + . -), got "Python3"`,
    );
    expect(refusal('pkg2', { ...ROOTFS, packages: ['hello; rm -rf /'] })).toContain('pkg2.json: packages[0]: expected a Debian package name');
    expect(refusal('pkg3', { ...ROOTFS, packages: ['hello', 'hello'] })).toContain('pkg3.json: packages[1]: "hello" is listed twice');
  });

  it('refuses an empty argv and an empty program', () => {
    expect(refusal('argv', { ...ROOTFS, services: [{ name: 'x', argv: [] }] })).toContain(
      'argv.json: services[0].argv: expected a non-empty array of strings (the program and its arguments), got an empty array',
    );
    expect(refusal('argv2', { ...ROOTFS, services: [{ name: 'x', argv: [''] }] })).toContain('argv2.json: services[0].argv[0]: expected a non-empty string');
  });

  it('refuses a user template named like a built-in: names are unique', () => {
    expect(refusal('minimal', { ...ROOTFS })).toContain('minimal.json: name: a template called "minimal" already exists');
    // The built-in stays usable.
    const { definitions } = loadTemplateDefinitions({ builtin: BUILTIN, user: userDir });
    expect(definitions.find((d) => d.name === 'minimal')?.source).toBe('builtin');
  });

  it('refuses duplicate service names, a missing field, a missing base, bad JSON, a bad file name', () => {
    expect(refusal('dup', { ...ROOTFS, services: [{ name: 'x', argv: ['a'] }, { name: 'x', argv: ['b'] }] })).toContain('dup.json: services[1].name: "x" is used by an earlier service');
    expect(refusal('nodesc', { kind: 'rootfs', base: 'debian-bookworm' })).toContain('nodesc.json: description: missing (required)');
    expect(refusal('nobase', { description: 'x', kind: 'rootfs' })).toContain('nobase.json: base: missing: a rootfs template needs a base ("debian-bookworm")');
    expect(refusal('oldbase', { ...ROOTFS, base: 'debian-buster' })).toContain('oldbase.json: base: expected one of "debian-bookworm", got "debian-buster"');
    expect(refusal('broken', '{"description": ')).toMatch(/broken\.json: not valid JSON/);
    expect(refusal('Upper_Case', { ...ROOTFS })).toContain('"Upper_Case" is not a valid template name');
  });

  it('keeps initramfs for the built-in minimal template', () => {
    expect(refusal('tiny', { description: 'x', kind: 'initramfs' })).toContain('tiny.json: kind: only the built-in minimal template can be an initramfs');
    expect(() => parseTemplateDefinition({ description: 'x', kind: 'initramfs', defaults: { diskMiB: 1024 } }, 'minimal', 'minimal.json', 'builtin')).toThrow(
      'minimal.json: defaults.diskMiB: not allowed for an initramfs template',
    );
  });

  it('gives the error code invalid_config with the file and field in details', () => {
    try {
      parseTemplateDefinition({ ...ROOTFS, packages: ['BAD'] }, 'x', 'x.json', 'user');
      throw new Error('not refused');
    } catch (error) {
      expect(error).toMatchObject({ code: 'invalid_config', details: { file: 'x.json', field: 'packages[0]' } });
    }
  });
});

describe('template catalog', () => {
  const savedImages = process.env.MICROVM_IMAGES_DIR;
  afterEach(() => {
    if (savedImages === undefined) delete process.env.MICROVM_IMAGES_DIR;
    else process.env.MICROVM_IMAGES_DIR = savedImages;
  });

  it('lists definitions with kind and defaults, and reports broken files separately', async () => {
    process.env.MICROVM_IMAGES_DIR = join(dir, 'images');
    writeFileSync(join(userDir, 'bad.json'), JSON.stringify({ ...ROOTFS, packages: ['Nope'] }));
    writeFileSync(join(userDir, 'good.json'), JSON.stringify({ ...ROOTFS, defaults: { diskMiB: 1024 } }));
    const catalog = new TemplateCatalog({ directories: { builtin: BUILTIN, user: userDir } });
    const list = await catalog.list();
    expect(list.map((t) => t.name)).toEqual(['ai-agent', 'desktop', 'minimal', 'good']);
    expect(list.find((t) => t.name === 'good')).toMatchObject({ kind: 'rootfs', source: 'user', built: false, sizeBytes: null, defaults: { diskMiB: 1024 } });
    expect(catalog.errors()).toEqual([expect.objectContaining({ name: 'bad', message: expect.stringContaining('packages[0]') })]);
    expect(() => catalog.definition('bad')).toThrow(/bad\.json: packages\[0\]/);
    expect(() => catalog.definition('nonesuch')).toThrow(/unknown template "nonesuch"/);
    await expect(catalog.image('bad')).rejects.toMatchObject({ code: 'invalid_config' });
  });

  it('defaults to ai-agent once its image is built, else minimal, unless one is pinned', async () => {
    process.env.MICROVM_IMAGES_DIR = join(dir, 'images');
    const catalog = new TemplateCatalog({ directories: { builtin: BUILTIN, user: userDir } });
    expect(await catalog.defaultName('auto')).toBe('minimal');
    const image = join(dir, 'images', 'ai-agent', '0123456789abcdef');
    mkdirSync(image, { recursive: true });
    writeFileSync(join(image, 'manifest.json'), '{}');
    expect(await catalog.defaultName('auto')).toBe('ai-agent');
    expect(await catalog.defaultName('minimal')).toBe('minimal');
    expect(await catalog.defaultName('desktop')).toBe('desktop');
  });
});

describe('build privilege', () => {
  const facts = (over: Partial<PrivilegeFacts>): PrivilegeFacts => ({
    uid: 1000,
    user: 'alice',
    subuid: 'alice:100000:65536\n',
    subgid: 'alice:100000:65536\n',
    newidmap: true,
    unprivilegedUserns: null,
    apparmorRestrictsUserns: null,
    maxUserNamespaces: 63000,
    ...over,
  });

  it('builds as root in root mode, and otherwise in unshare mode when the user namespace has what it needs', () => {
    expect(decideBuildMode(facts({ uid: 0, user: 'root', subuid: '', subgid: '', newidmap: false }))).toEqual({ mode: 'root' });
    expect(decideBuildMode(facts({}))).toEqual({ mode: 'unshare' });
    expect(decideBuildMode(facts({ subuid: '1000:100000:65536', subgid: '1000:100000:65536' }))).toEqual({ mode: 'unshare' });
  });

  it('says what privilege is missing', () => {
    const noSubuid = decideBuildMode(facts({ subuid: 'bob:100000:65536\n', subgid: '' }));
    expect(noSubuid.mode).toBeNull();
    const reason = 'reason' in noSubuid ? noSubuid.reason : '';
    expect(reason).toContain('needs root or /etc/subuid entries for unshare mode');
    expect(reason).toContain('an /etc/subuid entry for alice (sudo usermod --add-subuids 100000-165535 --add-subgids 100000-165535 alice)');
    expect(reason).toContain('an /etc/subgid entry for alice');

    const noTools = decideBuildMode(facts({ newidmap: false, unprivilegedUserns: false, apparmorRestrictsUserns: true }));
    const why = 'reason' in noTools ? noTools.reason : '';
    expect(why).toContain('newuidmap and newgidmap (sudo apt-get install uidmap)');
    expect(why).toContain('kernel.unprivileged_userns_clone=1');
    expect(why).toContain('kernel.apparmor_restrict_unprivileged_userns=0');
  });

  it('needs a full 65536-id range', () => {
    expect(hasSubordinateRange('alice:100000:65536', 'alice', 1000)).toBe(true);
    expect(hasSubordinateRange('alice:100000:1000', 'alice', 1000)).toBe(false);
    expect(hasSubordinateRange('alicia:100000:65536', 'alice', 1000)).toBe(false);
  });
});

describe('Debian sources', () => {
  const deb822 = [
    'Types: deb',
    '# http://snapshot.debian.org/archive/debian/20250520T000000Z',
    'URIs: http://deb.debian.org/debian',
    'Suites: bookworm bookworm-updates',
    'Components: main',
    'Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg',
    '',
    'Types: deb',
    'URIs: http://deb.debian.org/debian-security',
    'Suites: bookworm-security',
    'Components: main contrib',
    '',
    'Types: deb-src',
    'URIs: http://deb.debian.org/debian',
    'Suites: bookworm',
    'Components: main',
  ].join('\n');

  it('reads deb822 and one-line sources and picks the release\'s suites', () => {
    const host = [
      ...parseAptSources(deb822, 'sources'),
      ...parseAptSources('deb [arch=amd64] https://deb.nodesource.com/node_20.x nodistro main\n# deb http://x y z\n', 'list'),
    ];
    expect(host).toHaveLength(4);
    expect(mirrorsFor('bookworm', host).map(sourceLine)).toEqual([
      'deb http://deb.debian.org/debian bookworm main',
      'deb http://deb.debian.org/debian bookworm-updates main',
      'deb http://deb.debian.org/debian-security bookworm-security main',
    ]);
  });

  it('uses a local mirror when the host has one, and deb.debian.org when it has none', () => {
    const local = parseAptSources('deb http://mirror.example/debian/ bookworm main\n', 'list');
    expect(mirrorsFor('bookworm', local).map(sourceLine)).toEqual(['deb http://mirror.example/debian bookworm main']);
    expect(mirrorsFor('bookworm', []).map((s) => s.uri)).toEqual(['http://deb.debian.org/debian', 'http://deb.debian.org/debian', 'http://deb.debian.org/debian-security']);
  });

  it('finds the Release date in apt\'s lists', () => {
    expect(aptListsReleaseFile({ uri: 'http://deb.debian.org/debian', suite: 'bookworm' }, '/l')).toBe('/l/deb.debian.org_debian_dists_bookworm_InRelease');
    expect(releaseDate('Origin: Debian\nDate: Sat, 10 May 2025 08:00:00 UTC\nValid-Until: x\n')).toBe('Sat, 10 May 2025 08:00:00 UTC');
    expect(releaseDate('Origin: Debian\n')).toBeNull();
  });
});

describe('mmdebstrap output', () => {
  it('turns phases and apt lines into rising progress', () => {
    const events: BuildProgress[] = [];
    const reader = new MmdebstrapProgress((e) => events.push(e), 2);
    const lines = [
      'I: running apt-get update...',
      'I: downloading packages with apt...',
      '0 upgraded, 3 newly installed, 0 to remove and 0 not upgraded.',
      'Get:1 http://deb.debian.org/debian bookworm/main amd64 a amd64 1 [1 kB]',
      'Get:2 http://deb.debian.org/debian bookworm/main amd64 b amd64 1 [1 kB]',
      'Get:3 http://deb.debian.org/debian bookworm/main amd64 c amd64 1 [1 kB]',
      'I: installing remaining packages inside the chroot...',
      '0 upgraded, 1 newly installed, 0 to remove and 0 not upgraded.',
      'Get:1 http://deb.debian.org/debian bookworm/main amd64 hello amd64 2.10-3 [1 kB]',
      'Setting up hello (2.10-3) ...',
      'I: running --customize-hook in shell: sh -c ...',
      'microvm-setup: line 1: echo one',
      'microvm-setup: line 2: echo two',
      'I: cleaning package lists and apt cache...',
    ];
    lines.forEach((l) => reader.line(l));
    const fractions = events.map((e) => e.fraction ?? 0);
    expect(fractions).toEqual([...fractions].sort((a, b) => a - b));
    expect(events.map((e) => e.step)).toEqual(expect.arrayContaining(['update', 'download', 'packages', 'setup', 'clean']));
    expect(events.find((e) => e.message.includes('downloading c'))?.message).toBe('downloading the base system: downloading c (3/3)');
    expect(events.some((e) => e.message === 'setup line 2/2: echo two')).toBe(true);
  });

  it('names a missing package, a failing setup line, and otherwise quotes the errors', () => {
    expect(explainMmdebstrapFailure('ai-agent', ['Building dependency tree...', 'E: Unable to locate package pyhton3', 'E: setup failed: ...'], [], 25)).toBe(
      'template ai-agent: Debian package "pyhton3" does not exist in Debian bookworm (main)',
    );
    const setup = ['echo one', 'false'];
    expect(
      explainMmdebstrapFailure('x', ['microvm-setup: line 1: echo one', 'one', 'microvm-setup: line 2: false', 'microvm-setup: line 2 failed with exit status 1', 'E: hook failed'], setup, 1),
    ).toBe('template x: setup line 2 ("false") failed with exit status 1');
    expect(explainMmdebstrapFailure('x', ['I: foo', 'E: something odd'], [], 1)).toBe('template x: mmdebstrap failed (exit status 1):\n  E: something odd');
  });

  it('writes setup lines into the hook quoted, each checked', async () => {
    const script = customizeScript({
      name: 'x',
      setup: ["echo 'it''s' > /root/x", 'false'],
      services: [{ name: 'web', argv: ['/usr/bin/python3', '-m', 'http.server'], env: { Q: "it's" } }],
      display: null,
    });
    expect(script).toContain(`/bin/sh -c 'echo '\\''it'\\'''\\''s'\\'' > /root/x'`);
    expect(script).toContain('microvm-setup: line 2 failed with exit status $status');
    expect(script).not.toMatch(/rm -rf "\$root\/tmp/);
    // The service list goes in as JSON, quoted for the shell.
    const { stdout } = await execa('sh', ['-c', /printf '%s' ('(?:[^']|'\\'')*') > "\$root\/etc\/microvm\/services\.json"/.exec(script)![0].replace(/ > .*$/, '')]);
    expect(JSON.parse(stdout)).toEqual([{ name: 'web', argv: ['/usr/bin/python3', '-m', 'http.server'], env: { Q: "it's" } }]);
  });
});

import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { chmod, copyFile, link, mkdir, mkdtemp, readdir, readFile, rename, rm, rmdir, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { execa } from 'execa';
import { buildGuestAgent } from '../build/guest-agent-build.js';
import type { ProgressListener } from '../build/progress.js';
import { SandboxError } from '../errors/sandbox-error.js';
import { appPaths } from '../paths/app-paths.js';
import { hostBuildMode, type BuildMode } from './build-privilege.js';
import { ROOTFS_CMDLINE, type BuiltImage, type BuiltImageTemplate } from './built-image.js';
import { hostTracksRelease, mirrorReleaseDate, mirrorsFor, sourceLine } from './debian-sources.js';
import { unknownPackages } from './debian-packages.js';
import { buildMinimalImage, describeImage } from './minimal-image-builder.js';
import { explainMmdebstrapFailure, missingPackagesMessage, MmdebstrapProgress, SETUP_MARKER } from './mmdebstrap-output.js';
import type { TemplateDefinition } from './template-definition.js';

/** Bump when the rootfs layout (hooks, mke2fs options, files written) changes, so old images are rebuilt. */
const ROOTFS_LAYOUT_VERSION = 1;
/** Headroom over the content, so the image itself has room before the per-sandbox disk grows it. */
const HEADROOM = 1.25;
const MIN_IMAGE_MIB = 256;
/** ext4's journal and metadata on top of the files (a 64 MiB journal from 1 GiB up). */
const FS_OVERHEAD_MIB = 96;
/** One inode per 8 KiB: Python and Node trees are many small files. */
const BYTES_PER_INODE = 8192;
const RELEASE: Record<NonNullable<TemplateDefinition['base']>, string> = { 'debian-bookworm': 'bookworm' };
/** Always installed: resize2fs (grows the filesystem to the disk at boot). */
const REQUIRED_PACKAGES = ['e2fsprogs'];
/**
 * Left out of every image: documentation nobody reads in a sandbox (copyright files stay)
 * and message translations (the guest runs in C.UTF-8); about 80 MiB of ai-agent.
 */
const DPKG_EXCLUDES = [
  'path-exclude=/usr/share/man/*',
  'path-exclude=/usr/share/info/*',
  'path-exclude=/usr/share/doc/*',
  'path-include=/usr/share/doc/*/copyright',
  'path-exclude=/usr/share/locale/*',
  'path-include=/usr/share/locale/locale.alias',
];
const PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export interface RootfsManifest {
  key: string;
  template: string;
  kind: 'rootfs';
  kernelVersion: string;
  cmdline: string;
  minimalKey: string;
  agentSourceHash: string;
  mirrors: string[];
  releaseDate: string;
  /** The definition's inputs the image was built from. */
  inputs: ReturnType<typeof buildInputs>;
  /** Every Debian package in the image, as name=version. */
  installed: string[];
  contentBytes: number;
  rootfsBytes: number;
  buildMode: BuildMode;
  buildSeconds: number;
  builtAt: string;
}

export interface RootfsImageOptions {
  onProgress?: ProgressListener;
  /** Overrides the detected privilege mode (tests). */
  mode?: BuildMode;
}

/** The parts of a definition that change the image (description and defaults do not). */
function buildInputs(definition: TemplateDefinition) {
  return {
    name: definition.name,
    base: definition.base,
    packages: definition.packages,
    setup: definition.setup,
    services: definition.services,
    display: definition.display,
  };
}

/**
 * Builds a rootfs template's image: `mmdebstrap` makes a Debian tree with the template's
 * packages, the customize hook adds the agent, its service list and the setup lines, and
 * `mke2fs -d` packs the tree into a raw ext4 image with headroom. The kernel and initramfs
 * are the minimal image's (hard links). Everything happens in a `.build-*` directory that
 * is renamed into place only when complete, keyed by a hash of every input.
 */
export async function buildRootfsImage(definition: TemplateDefinition, options: RootfsImageOptions = {}): Promise<BuiltImage> {
  if (definition.kind !== 'rootfs' || !definition.base) throw new Error(`template ${definition.name} is not a rootfs template`);
  const progress = options.onProgress ?? (() => {});
  const started = Date.now();
  const name = definition.name;
  progress({ step: 'resolve', message: `checking template ${name}'s inputs`, fraction: 0.01 });

  const minimal = await buildMinimalImage({ onProgress: (e) => progress({ ...e, step: `minimal:${e.step}`, fraction: 0.01 + (e.fraction ?? 0) * 0.03 }) });
  const agent = await buildGuestAgent({ onProgress: (e) => progress({ ...e, fraction: 0.04 }) });
  const release = RELEASE[definition.base];
  const mirrors = mirrorsFor(release);
  const main = mirrors.find((m) => m.suite === release) ?? mirrors[0];
  if (!main) throw new SandboxError('build_failed', `template ${name}: no Debian mirror for ${release}`);
  const releaseDate = await mirrorReleaseDate(main).catch((error: unknown) => {
    throw new SandboxError('build_failed', `template ${name}: ${(error as Error).message}; run "apt-get update" or check the network`);
  });

  const inputs = buildInputs(definition);
  const key = createHash('sha256')
    .update(
      JSON.stringify([
        ROOTFS_LAYOUT_VERSION,
        inputs,
        REQUIRED_PACKAGES,
        DPKG_EXCLUDES,
        // The hook and the filesystem options are inputs too: changing either rebuilds.
        customizeScript(definition),
        mke2fsOptions(),
        minimal.key,
        agent.sourceHash,
        mirrors.map(sourceLine),
        releaseDate,
      ]),
    )
    .digest('hex')
    .slice(0, 16);
  const templateInfo = describeTemplate(definition);
  const imagesDir = join(appPaths().images, name);
  const dir = join(imagesDir, key);
  const existing = await readRootfsManifest(dir);
  if (existing) {
    progress({ step: 'done', message: `template ${name}: image ${key} is up to date`, fraction: 1 });
    return describeRootfs(dir, existing, true, templateInfo);
  }

  const packages = [...new Set([...REQUIRED_PACKAGES, ...definition.packages])];
  if (hostTracksRelease(release)) {
    // The host's apt knows the same release: a misspelt package fails in a second, not after the base system is installed.
    const unknown = await unknownPackages(packages).catch(() => []);
    if (unknown.length > 0) throw new SandboxError('build_failed', missingPackagesMessage(name, unknown), { template: name, packages: unknown });
  }
  const mode = options.mode ?? (await hostBuildMode());
  await requireTool('mmdebstrap', "Debian's mmdebstrap package");
  await requireTool('mke2fs', "Debian's e2fsprogs package");
  await mkdir(imagesDir, { recursive: true });
  await removeStaleBuilds(imagesDir);
  const work = await mkdtemp(join(imagesDir, `.build-${key}-${process.pid}-`));
  // In unshare mode the tree belongs to subordinate ids, which cannot reach into the user's
  // (often private) home: mmdebstrap and mke2fs then work in a world-traversable temporary
  // directory, and only the finished image moves into the images directory.
  const treeWork = mode === 'root' ? work : await mkdtemp(join(tmpdir(), `microvm-rootfs-${name}-`));
  const logDir = join(appPaths().cache, 'build-logs');
  await mkdir(logDir, { recursive: true });
  const logPath = join(logDir, `${name}.log`);
  try {
    if (mode === 'unshare') await chmod(treeWork, 0o755);
    const root = join(treeWork, 'root');
    const args = [
      '--verbose',
      `--mode=${mode}`,
      '--variant=apt',
      '--format=directory',
      `--include=${packages.join(',')}`,
      '--aptopt=APT::Install-Recommends "false"',
      '--aptopt=Acquire::Retries "3"',
      ...DPKG_EXCLUDES.map((opt) => `--dpkgopt=${opt}`),
      // `upload` is done by mmdebstrap itself, so it works in both modes; the script is inline for the same reason.
      `--customize-hook=upload ${agent.path} /usr/bin/microvm-agent`,
      `--customize-hook=${customizeScript(definition)}`,
      // mmdebstrap's apt cleanup runs apt-get with the configuration file it keeps in the
      // tree's /tmp; a setup line that empties /tmp would turn that into apt-get update
      // and clean on the HOST. The hook cleans apt's lists and caches in the tree instead.
      '--skip=cleanup/apt',
      release,
      root,
      ...mirrors.map(sourceLine),
    ];
    progress({ step: 'bootstrap', message: `mmdebstrap (${mode} mode): Debian ${release} with ${packages.length} packages`, fraction: 0.05 });
    const reader = new MmdebstrapProgress(progress, definition.setup.length);
    const result = await run('mmdebstrap', args, { cwd: treeWork, log: logPath, onLine: (line) => reader.line(line) });
    if (result.exitCode !== 0) {
      const message = explainMmdebstrapFailure(name, result.lines, definition.setup, result.exitCode ?? undefined);
      throw new SandboxError('build_failed', `${message}\n(full log: ${logPath})`, { template: name, log: logPath });
    }

    progress({ step: 'measure', message: 'measuring the tree', fraction: 0.87 });
    const { kib, inodes } = await treeSize(root, mode);
    const contentMiB = kib / 1024;
    let sizeMiB = Math.max(MIN_IMAGE_MIB, Math.ceil(contentMiB * HEADROOM + FS_OVERHEAD_MIB));
    // Enough inodes for the files twice over at this size, else a larger image.
    sizeMiB = Math.max(sizeMiB, Math.ceil((inodes * 2 * BYTES_PER_INODE) / (1024 * 1024)));

    const out = join(work, 'image');
    await mkdir(out);
    const rootfs = join(out, 'rootfs.ext4');
    progress({ step: 'mke2fs', message: `writing rootfs.ext4 (${sizeMiB} MiB for ${Math.round(contentMiB)} MiB of files)`, fraction: 0.9 });
    // Unshare mode: mke2fs runs as the namespace's root, a subordinate id, so it writes a file the user made writable for it.
    const written = mode === 'root' ? rootfs : join(treeWork, 'rootfs.ext4');
    await writeFile(written, '', { mode: 0o666 });
    await chmod(written, 0o666);
    await runChecked(mode, ['mke2fs', ...mke2fsOptions(), '-d', root, written, `${sizeMiB}M`], `template ${name}: mke2fs could not write the image`, logPath);
    progress({ step: 'fsck', message: 'checking the filesystem', fraction: 0.96 });
    await runChecked(mode, ['e2fsck', '-f', '-n', written], `template ${name}: the new filesystem failed e2fsck`, logPath);
    if (written !== rootfs) await moveSparse(written, rootfs);
    await chmod(rootfs, 0o644);

    await hardLinkOrCopy(minimal.kernel, join(out, 'vmlinuz'));
    await hardLinkOrCopy(minimal.initrd, join(out, 'initrd.img'));
    const manifest: RootfsManifest = {
      key,
      template: name,
      kind: 'rootfs',
      kernelVersion: minimal.kernelVersion,
      cmdline: `${minimal.cmdline} ${ROOTFS_CMDLINE}`,
      minimalKey: minimal.key,
      agentSourceHash: agent.sourceHash,
      mirrors: mirrors.map(sourceLine),
      releaseDate,
      inputs,
      installed: await installedPackages(root),
      contentBytes: kib * 1024,
      rootfsBytes: (await stat(rootfs)).size,
      buildMode: mode,
      buildSeconds: Math.round((Date.now() - started) / 100) / 10,
      builtAt: new Date().toISOString(),
    };
    await writeFile(join(out, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`);
    try {
      await rename(out, dir);
    } catch (error) {
      // Another process finished the same build first: its image is as good as ours.
      const theirs = await readRootfsManifest(dir);
      if (!theirs) throw error;
      progress({ step: 'done', message: `template ${name}: image ${key} was built by another process`, fraction: 1 });
      return describeRootfs(dir, theirs, true, templateInfo);
    }
    progress({ step: 'done', message: `template ${name}: image ${key} built in ${manifest.buildSeconds} s (${Math.round(manifest.rootfsBytes / 1048576)} MiB)`, fraction: 1 });
    return describeRootfs(dir, manifest, false, templateInfo);
  } finally {
    if (treeWork !== work) await removeBuildDir(treeWork, mode);
    await removeBuildDir(work, mode);
    // A failed first build leaves no trace: not even the template's (now empty) directory.
    await rmdir(imagesDir).catch(() => undefined);
  }
}

/** 4 KiB blocks even when small (mke2fs would pick 1 KiB, which then grows badly); inodes zeroed now, not by the guest's lazyinit thread. */
function mke2fsOptions(): string[] {
  return ['-q', '-F', '-t', 'ext4', '-L', 'rootfs', '-b', '4096', '-m', '1', '-i', String(BYTES_PER_INODE), '-E', 'lazy_itable_init=0,lazy_journal_init=0'];
}

export function describeTemplate(definition: TemplateDefinition): BuiltImageTemplate {
  return { name: definition.name, kind: definition.kind, defaults: { ...definition.defaults }, display: definition.display, services: definition.services };
}

/**
 * The customize hook, passed inline (mmdebstrap runs it with `sh -c`, the tree as $1): on
 * the host in root mode, inside mmdebstrap's namespace in unshare mode. It writes the
 * agent's service list and template file, root's home, then runs each setup line in the
 * tree (chroot), stopping at the first that fails and saying which (the marker lines are
 * what the progress and error readers look for). The agent itself comes in by an
 * `upload` hook just before.
 */
export function customizeScript(definition: Pick<TemplateDefinition, 'name' | 'setup' | 'services' | 'display'>): string {
  const env = `/usr/bin/env -i HOME=/root USER=root LOGNAME=root SHELL=/bin/sh PATH=${PATH} LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive TERM=dumb`;
  const services = `${JSON.stringify(definition.services, null, 2)}\n`;
  const template = `${JSON.stringify({ name: definition.name, display: definition.display }, null, 2)}\n`;
  const lines = [
    'set -eu',
    'root="${1:-}"',
    'case "$root" in /?*) ;; *) echo "customize hook: no tree directory given" >&2; exit 1 ;; esac',
    'chmod 0755 "$root/usr/bin/microvm-agent"',
    'install -d -m 0755 "$root/etc/microvm"',
    `printf '%s' ${shellQuote(services)} > "$root/etc/microvm/services.json"`,
    `printf '%s' ${shellQuote(template)} > "$root/etc/microvm/template.json"`,
    'chmod 0644 "$root/etc/microvm/services.json" "$root/etc/microvm/template.json"',
    'install -d -m 0700 "$root/root"',
    'for f in .bashrc .profile; do [ -e "$root/root/$f" ] || [ ! -e "$root/etc/skel/$f" ] || cp "$root/etc/skel/$f" "$root/root/$f"; done',
    `printf '127.0.0.1\\tlocalhost\\n::1\\tlocalhost ip6-localhost ip6-loopback\\n' > "$root/etc/hosts"`,
    'printf "LANG=C.UTF-8\\n" > "$root/etc/default/locale"',
  ];
  definition.setup.forEach((line, i) => {
    const n = i + 1;
    lines.push(
      `echo ${shellQuote(`${SETUP_MARKER} line ${n}: ${oneLine(line)}`)}`,
      'status=0',
      `chroot "$root" ${env} /bin/sh -c ${shellQuote(line)} </dev/null 2>&1 || status=$?`,
      `if [ "$status" -ne 0 ]; then echo "${SETUP_MARKER} line ${n} failed with exit status $status"; exit 97; fi`,
    );
  });
  // mmdebstrap's own apt cleanup is skipped (see the --skip note in buildRootfsImage), so
  // the lists and caches go here: no guest has a network to fetch from yet, and they are
  // over 100 MiB. Never /tmp: mmdebstrap keeps its apt configuration there until the end,
  // and clears /tmp itself.
  lines.push(
    'rm -rf "$root/var/tmp/"* "$root/root/.cache" "$root/root/.npm"',
    'find "$root/var/lib/apt/lists" -mindepth 1 -maxdepth 1 -type f ! -name lock -delete',
    'rm -f "$root/var/cache/apt/"*.bin "$root/var/cache/apt/archives/"*.deb',
  );
  return lines.join('\n');
}

export async function readRootfsManifest(dir: string): Promise<RootfsManifest | null> {
  try {
    const manifest = JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8')) as RootfsManifest;
    if (manifest.kind !== 'rootfs') return null;
    for (const file of ['rootfs.ext4', 'vmlinuz', 'initrd.img']) await stat(join(dir, file));
    return manifest;
  } catch {
    return null;
  }
}

export function describeRootfs(dir: string, manifest: RootfsManifest, cached: boolean, template: BuiltImageTemplate): BuiltImage {
  return {
    ...describeImage(dir, manifest, cached),
    rootfs: join(dir, 'rootfs.ext4'),
    rootfsBytes: manifest.rootfsBytes,
    template,
  };
}

interface RunResult {
  exitCode: number | null;
  lines: string[];
}

/** Runs a command, handing each output line (stdout and stderr) to onLine and the log; keeps the last lines for errors. */
function run(command: string, args: string[], options: { cwd: string; log: string; onLine: (line: string) => void }): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const log = createWriteStream(options.log);
    log.write(`$ ${command} ${args.map(shellQuote).join(' ')}\n`);
    const child = spawn(command, args, { cwd: options.cwd, env: buildEnv(options.cwd), stdio: ['ignore', 'pipe', 'pipe'] });
    const lines: string[] = [];
    const take = (line: string) => {
      log.write(`${line}\n`);
      lines.push(line);
      if (lines.length > 400) lines.splice(0, lines.length - 400);
      options.onLine(line);
    };
    const readers = [child.stdout, child.stderr].map((stream) => {
      const rl = createInterface({ input: stream });
      rl.on('line', take);
      return new Promise<void>((done) => rl.on('close', done));
    });
    child.on('error', (error) => {
      log.end();
      reject(error);
    });
    child.on('close', (code, signal) => {
      void Promise.all(readers).then(() => {
        log.end(`exit ${code ?? signal}\n`);
        resolve({ exitCode: code, lines });
      });
    });
  });
}

function buildEnv(tmp: string): NodeJS.ProcessEnv {
  return { ...process.env, LC_ALL: 'C', LANG: 'C', PATH: `${process.env.PATH ?? ''}:${PATH}`, TMPDIR: tmp };
}

/** Runs a tool on the tree: directly as root, or inside mmdebstrap's user namespace in unshare mode (the tree's owners are subordinate ids). */
async function runChecked(mode: BuildMode, argv: string[], failure: string, logPath?: string): Promise<string> {
  const [command = 'true', ...args] = mode === 'unshare' ? ['mmdebstrap', '--unshare-helper', ...argv] : argv;
  try {
    const { stdout } = await execa(command, args, { env: buildEnv('/tmp'), all: true });
    return stdout;
  } catch (error) {
    const e = error as { all?: string; stderr?: string; message: string };
    const output = (e.all ?? e.stderr ?? e.message).trim().split('\n').slice(-12).join('\n');
    throw new SandboxError('build_failed', `${failure}:\n${output}${logPath ? `\n(build log: ${logPath})` : ''}`);
  }
}

async function treeSize(root: string, mode: BuildMode): Promise<{ kib: number; inodes: number }> {
  const kib = Number((await runChecked(mode, ['du', '-s', '-x', '-k', root], 'measuring the tree failed')).split(/\s+/)[0]);
  const inodes = Number((await runChecked(mode, ['du', '-s', '-x', '--inodes', root], 'counting the tree\'s files failed')).split(/\s+/)[0]);
  if (!Number.isFinite(kib) || !Number.isFinite(inodes)) throw new SandboxError('build_failed', `du gave no size for ${root}`);
  return { kib, inodes };
}

async function installedPackages(root: string): Promise<string[]> {
  const status = await readFile(join(root, 'var', 'lib', 'dpkg', 'status'), 'utf8').catch(() => '');
  const out: string[] = [];
  for (const stanza of status.split(/\n\n+/)) {
    const pkg = /^Package: (.+)$/m.exec(stanza)?.[1];
    const version = /^Version: (.+)$/m.exec(stanza)?.[1];
    if (pkg && version && /^Status: .* installed$/m.test(stanza)) out.push(`${pkg}=${version}`);
  }
  return out.sort();
}

/** Moves a (sparse) image file, across file systems too, without filling its holes. */
async function moveSparse(from: string, to: string): Promise<void> {
  try {
    await rename(from, to);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EXDEV') throw error;
    await execa('cp', ['--sparse=always', from, to]);
    await rm(from, { force: true });
  }
}

async function hardLinkOrCopy(from: string, to: string): Promise<void> {
  try {
    await link(from, to);
  } catch {
    await copyFile(from, to);
  }
}

async function requireTool(tool: string, pkg: string): Promise<void> {
  try {
    await execa('sh', ['-c', `command -v ${tool}`], { env: buildEnv('/tmp') });
  } catch {
    throw new SandboxError('missing_tool', `${tool} was not found: rootfs templates are built with it; install ${pkg}`);
  }
}

/** Paths mounted at or below `dir` in this process's mount namespace. */
async function mountsBelow(dir: string): Promise<string[]> {
  const info = await readFile('/proc/self/mountinfo', 'utf8').catch(() => '');
  return info
    .split('\n')
    .map((line) => line.split(' ')[4]?.replace(/\\040/g, ' '))
    .filter((point): point is string => !!point && (point === dir || point.startsWith(`${dir}/`)));
}

/**
 * Removes a build directory. Never while something is mounted inside it (a bind mount of
 * /dev would take the host's device nodes with it): those are unmounted first, and if one
 * stays, the directory is left for a person to look at.
 */
export async function removeBuildDir(work: string, mode: BuildMode): Promise<void> {
  const mounted = await mountsBelow(work);
  for (const point of mounted.sort((a, b) => b.length - a.length)) {
    await execa('umount', ['-l', point]).catch(() => undefined);
  }
  const still = await mountsBelow(work);
  if (still.length > 0) {
    throw new SandboxError('build_failed', `cannot remove ${work}: ${still.join(', ')} still mounted there; unmount and delete it by hand`);
  }
  if (mode === 'unshare') {
    await execa('mmdebstrap', ['--unshare-helper', 'rm', '-rf', work], { env: buildEnv('/tmp') }).catch(() => undefined);
  }
  await rm(work, { recursive: true, force: true });
}

/** `.build-<key>-<pid>-*` directories whose process is gone: a build that was killed. */
async function removeStaleBuilds(imagesDir: string): Promise<void> {
  for (const entry of await readdir(imagesDir).catch(() => [])) {
    const pid = /^\.build-[0-9a-f]+-(\d+)-/.exec(entry)?.[1];
    if (!pid || processAlive(Number(pid))) continue;
    await removeBuildDir(join(imagesDir, entry), (process.getuid?.() ?? 0) === 0 ? 'root' : 'unshare').catch(() => undefined);
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export function shellQuote(value: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(value) ? value : `'${value.replace(/'/g, `'\\''`)}'`;
}

function oneLine(text: string): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > 100 ? `${flat.slice(0, 97)}...` : flat;
}

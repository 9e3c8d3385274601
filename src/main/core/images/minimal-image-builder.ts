import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { appPaths } from '../paths/app-paths.js';
import { buildGuestAgent } from '../build/guest-agent-build.js';
import type { ProgressListener } from '../build/progress.js';
import { CpioNewcWriter } from './cpio-newc-writer.js';
import { downloadPackage, extractPackage, resolveMetapackage, resolvePackage, type DebianPackage } from './debian-packages.js';
import { resolveModuleLoadOrder } from './kernel-modules.js';
import type { BuiltImage } from './built-image.js';
import minimalDefinition from '../../../../images/minimal/image.json' with { type: 'json' };

/** Bump when the image layout changes, so cached images built the old way are not reused. */
const LAYOUT_VERSION = 1;

/** The image definition; see images/README.md for why each module and option is there. */
const MINIMAL_CMDLINE = minimalDefinition.cmdline.join(' ');

/** The general built-image type (rootfs images add `rootfs`); this name is kept for the minimal image's callers. */
export type MinimalImage = BuiltImage;

interface Manifest {
  key: string;
  kernelVersion: string;
  packages: DebianPackage[];
  agentSourceHash: string;
  modules: string[];
  cmdline: string;
  builtAt: string;
}

export interface MinimalImageOptions {
  onProgress?: ProgressListener;
}

/**
 * Builds the `minimal` image (Debian cloud kernel + busybox + the agent as init, as
 * kernel + initramfs) in the user's data directory, keyed by a hash of every input, so
 * it is rebuilt only when the kernel, busybox, the agent or this layout changes.
 */
export async function buildMinimalImage(options: MinimalImageOptions = {}): Promise<MinimalImage> {
  const progress = options.onProgress ?? (() => {});
  progress({ step: 'resolve', message: 'resolving Debian packages', fraction: 0.02 });
  const kernelPkg = await resolveMetapackage(minimalDefinition.kernelMetapackage, 'linux-image-');
  const busyboxPkg = await resolvePackage(minimalDefinition.busyboxPackage);
  const agent = await buildGuestAgent({ onProgress: (e) => progress({ ...e, fraction: 0.1 }) });

  const key = createHash('sha256')
    .update(JSON.stringify([LAYOUT_VERSION, kernelPkg, busyboxPkg, agent.sourceHash, minimalDefinition]))
    .digest('hex')
    .slice(0, 16);
  const imagesDir = join(appPaths().images, 'minimal');
  const dir = join(imagesDir, key);
  const existing = await readManifest(dir);
  if (existing) {
    progress({ step: 'done', message: `minimal image ${key} is up to date`, fraction: 1 });
    return describeImage(dir, existing, true);
  }

  await mkdir(imagesDir, { recursive: true });
  const work = await mkdtemp(join(imagesDir, `.build-${key}-`));
  try {
    const debs = join(appPaths().cache, 'debs');
    await mkdir(debs, { recursive: true });
    progress({ step: 'download', message: `downloading ${kernelPkg.name} ${kernelPkg.version}`, fraction: 0.3 });
    const kernelDeb = await downloadPackage(kernelPkg, debs);
    progress({ step: 'download', message: `downloading ${busyboxPkg.name} ${busyboxPkg.version}`, fraction: 0.45 });
    const busyboxDeb = await downloadPackage(busyboxPkg, debs);

    progress({ step: 'extract', message: 'unpacking kernel and busybox', fraction: 0.55 });
    const root = join(work, 'unpacked');
    await extractPackage(kernelDeb, root);
    await extractPackage(busyboxDeb, root);

    const kernelVersion = kernelPkg.name.replace(/^linux-image-/, '');
    const modulesDir = join(root, 'lib', 'modules', kernelVersion);
    const modules = await resolveModuleLoadOrder(modulesDir, minimalDefinition.modules);

    progress({ step: 'initramfs', message: `packing initramfs (${modules.length} modules)`, fraction: 0.75 });
    const out = join(work, 'image');
    await mkdir(out);
    await writeInitramfs(join(out, 'initrd.img'), {
      agent: agent.path,
      busybox: join(root, 'bin', 'busybox'),
      modulesDir,
      kernelVersion,
      modules,
    });
    await rename(join(root, 'boot', `vmlinuz-${kernelVersion}`), join(out, 'vmlinuz'));

    const manifest: Manifest = {
      key,
      kernelVersion,
      packages: [kernelPkg, busyboxPkg],
      agentSourceHash: agent.sourceHash,
      modules,
      cmdline: MINIMAL_CMDLINE,
      builtAt: new Date().toISOString(),
    };
    await writeFile(join(out, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`);
    await rm(dir, { recursive: true, force: true });
    await rename(out, dir);
    progress({ step: 'done', message: `minimal image ${key} built`, fraction: 1 });
    return describeImage(dir, manifest, false);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

interface InitramfsInputs {
  agent: string;
  busybox: string;
  modulesDir: string;
  kernelVersion: string;
  modules: string[];
}

async function writeInitramfs(path: string, inputs: InitramfsInputs): Promise<void> {
  const cpio = await CpioNewcWriter.create(path);
  for (const dir of ['bin', 'sbin', 'usr', 'usr/bin', 'usr/sbin', 'dev', 'proc', 'sys', 'run', 'etc', 'etc/microvm', 'var', 'lib', 'lib/modules', 'home']) {
    await cpio.directory(dir);
  }
  await cpio.directory('tmp', 0o1777);
  await cpio.directory('root', 0o700);
  // The kernel opens /dev/console for init's stdio before the agent mounts devtmpfs.
  await cpio.charDevice('dev/console', 0o600, 5, 1);
  await cpio.charDevice('dev/null', 0o666, 1, 3);

  await cpio.file('init', await readFile(inputs.agent), 0o755);
  await cpio.symlink('usr/bin/microvm-agent', '/init');

  await cpio.file('bin/busybox', await readFile(inputs.busybox), 0o755);
  for (const applet of await busyboxApplets(inputs.busybox)) {
    await cpio.symlink(applet, '/bin/busybox');
  }

  const moduleRoot = `lib/modules/${inputs.kernelVersion}`;
  const made = new Set(['lib/modules']);
  for (const rel of inputs.modules) {
    const parts = `${moduleRoot}/${rel}`.split('/');
    for (let i = 3; i < parts.length; i++) {
      const d = parts.slice(0, i).join('/');
      if (!made.has(d)) {
        made.add(d);
        await cpio.directory(d);
      }
    }
    await cpio.file(`${moduleRoot}/${rel}`, await readFile(join(inputs.modulesDir, rel)));
  }
  await cpio.file('etc/microvm/modules.load', Buffer.from(inputs.modules.map((m) => `/${moduleRoot}/${m}\n`).join('')));
  await cpio.file('etc/passwd', Buffer.from('root:x:0:0:root:/root:/bin/sh\n'));
  await cpio.file('etc/group', Buffer.from('root:x:0:\n'));
  await cpio.file('etc/os-release', Buffer.from('NAME="MicroVM Sandbox minimal"\nID=microvm-minimal\n'));
  await cpio.close();
}

/** Busybox's own applet list, so every applet it has gets a symlink (sh, sha256sum, stty …). */
async function busyboxApplets(busybox: string): Promise<string[]> {
  const { stdout } = await execa(busybox, ['--list-full']);
  return stdout
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line && line !== 'bin/busybox' && line !== 'init' && line !== 'linuxrc' && !line.startsWith('sbin/init'));
}

async function readManifest(dir: string): Promise<Manifest | null> {
  try {
    const manifest = JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8')) as Manifest;
    await stat(join(dir, 'vmlinuz'));
    await stat(join(dir, 'initrd.img'));
    return manifest;
  } catch {
    return null;
  }
}

/** The kernel + initramfs part every built image has, from its directory and manifest. */
export function describeImage(dir: string, manifest: Pick<Manifest, 'cmdline' | 'key' | 'kernelVersion'>, cached: boolean): MinimalImage {
  return {
    dir,
    kernel: join(dir, 'vmlinuz'),
    initrd: join(dir, 'initrd.img'),
    cmdline: manifest.cmdline,
    key: manifest.key,
    kernelVersion: manifest.kernelVersion,
    cached,
  };
}


import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { chmod, copyFile, mkdir, rename, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { once } from 'node:events';
import { execa } from 'execa';
import { buildGuestAgent } from '../../src/main/core/build/guest-agent-build.js';
import { ROOTFS_CMDLINE, type BuiltImage, type TemplateDefaults, type TemplateService } from '../../src/main/core/images/built-image.js';
import { downloadPackage, extractPackage, resolvePackage } from '../../src/main/core/images/debian-packages.js';
import { SandboxError } from '../../src/main/core/errors/sandbox-error.js';
import type { TemplateCatalog } from '../../src/main/core/images/template-catalog.js';
import { appPaths } from '../../src/main/core/paths/app-paths.js';
import { minimalImage } from './minimal-vm.js';

const MIB = 1024 * 1024;

export interface TinyRootfsOptions {
  /** The image directory (created); it holds rootfs.ext4, and warm-start states land in it. */
  dir: string;
  /** The template name the image poses as. */
  name?: string;
  /** Size of rootfs.ext4 (default 64 MiB). */
  sizeMiB?: number;
  /** MiB of random (incompressible) data in /var/filler, to make a big image really big. */
  fillerMiB?: number;
  /** Written to /etc/microvm/services.json. */
  services?: TemplateService[];
  /** Extra files, absolute guest path → content. */
  files?: Record<string, string>;
  defaults?: Partial<TemplateDefaults>;
  /** The agent put at /usr/bin/microvm-agent; the one built from guest-agent/ by default. */
  agentBinary?: string;
}

/** Every rootfs made by this helper has this file, with the image's name in it. */
export const TINY_MARKER = '/etc/microvm/tiny-rootfs';

let busybox: Promise<string> | undefined;

/** busybox-static's binary, from the Debian package the minimal image uses (cached .deb). */
function busyboxBinary(): Promise<string> {
  busybox ??= (async () => {
    const debs = join(appPaths().cache, 'debs');
    await mkdir(debs, { recursive: true });
    const deb = await downloadPackage(await resolvePackage('busybox-static'), debs);
    const into = join(appPaths().cache, 'tiny-rootfs-busybox', createHash('sha256').update(deb).digest('hex').slice(0, 12));
    const binary = join(into, 'bin', 'busybox');
    if (!(await stat(binary).then(() => true, () => false))) {
      const partial = `${into}.partial-${process.pid}`;
      await mkdir(partial, { recursive: true });
      await extractPackage(deb, partial);
      await rename(partial, into).catch(async (error: NodeJS.ErrnoException) => {
        await rm(partial, { recursive: true, force: true });
        if (error.code !== 'ENOTEMPTY' && error.code !== 'EEXIST') throw error;
      });
    }
    return binary;
  })();
  return busybox;
}

/**
 * A tiny rootfs image for tests, shaped like the templates helper's ai-agent image but
 * built in a second: busybox and its applets, the agent at /usr/bin/microvm-agent,
 * /etc/microvm/services.json and template.json, packed with `mke2fs -d`. It boots with
 * the minimal image's kernel and initramfs, as rootfs images do.
 */
export async function makeTinyRootfsImage(options: TinyRootfsOptions): Promise<BuiltImage> {
  const name = options.name ?? 'tiny';
  const sizeMiB = options.sizeMiB ?? 64;
  const minimal = await minimalImage();
  const agent = options.agentBinary ?? (await buildGuestAgent()).path;
  const bb = await busyboxBinary();

  await mkdir(options.dir, { recursive: true });
  const root = join(options.dir, 'content');
  await rm(root, { recursive: true, force: true });
  for (const dir of ['bin', 'sbin', 'usr/bin', 'usr/sbin', 'dev', 'proc', 'sys', 'run', 'tmp', 'etc/microvm', 'var', 'lib', 'home', 'root']) {
    await mkdir(join(root, dir), { recursive: true });
  }
  await chmod(join(root, 'tmp'), 0o1777);
  await chmod(join(root, 'root'), 0o700);
  await copyFile(bb, join(root, 'bin', 'busybox'));
  await chmod(join(root, 'bin', 'busybox'), 0o755);
  const { stdout } = await execa(bb, ['--list-full']);
  for (const applet of stdout.split('\n').map((line) => line.trim())) {
    if (!applet || applet === 'bin/busybox' || applet === 'linuxrc' || applet === 'init' || applet.startsWith('sbin/init')) continue;
    await mkdir(dirname(join(root, applet)), { recursive: true });
    await symlink('/bin/busybox', join(root, applet)).catch((error: NodeJS.ErrnoException) => {
      if (error.code !== 'EEXIST') throw error;
    });
  }
  await copyFile(agent, join(root, 'usr', 'bin', 'microvm-agent'));
  await chmod(join(root, 'usr', 'bin', 'microvm-agent'), 0o755);

  const files: Record<string, string> = {
    '/etc/passwd': 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n',
    '/etc/group': 'root:x:0:\nnogroup:x:65534:\n',
    '/etc/os-release': 'NAME="MicroVM Sandbox tiny rootfs"\nID=microvm-tiny\n',
    '/etc/microvm/services.json': `${JSON.stringify(options.services ?? [], null, 2)}\n`,
    '/etc/microvm/template.json': `${JSON.stringify({ name, display: null })}\n`,
    [TINY_MARKER]: `tiny rootfs ${name}\n`,
    ...options.files,
  };
  for (const [path, content] of Object.entries(files)) {
    await mkdir(dirname(join(root, path)), { recursive: true });
    await writeFile(join(root, path), content);
  }
  if (options.fillerMiB) await writeRandom(join(root, 'var', 'filler'), options.fillerMiB * MIB);

  const rootfs = join(options.dir, 'rootfs.ext4');
  await rm(rootfs, { force: true });
  await execa('mke2fs', ['-q', '-F', '-t', 'ext4', '-d', root, '-L', 'rootfs', rootfs, `${sizeMiB}M`]);
  await rm(root, { recursive: true, force: true });
  const rootfsBytes = (await stat(rootfs)).size;
  return {
    dir: options.dir,
    kernel: minimal.kernel,
    initrd: minimal.initrd,
    cmdline: `${minimal.cmdline} ${ROOTFS_CMDLINE}`,
    key: createHash('sha256').update(JSON.stringify([name, sizeMiB, options.fillerMiB ?? 0, files])).digest('hex').slice(0, 16),
    kernelVersion: minimal.kernelVersion,
    cached: false,
    rootfs,
    rootfsBytes,
    template: {
      name,
      kind: 'rootfs',
      defaults: { vcpus: 1, memoryMiB: 256, diskMiB: sizeMiB, ...options.defaults },
      display: null,
      services: options.services ?? [],
    },
  };
}

async function writeRandom(path: string, bytes: number): Promise<void> {
  const out = createWriteStream(path);
  for (let left = bytes; left > 0; left -= MIB) {
    if (!out.write(randomBytes(Math.min(MIB, left)))) await once(out, 'drain');
  }
  out.end();
  await once(out, 'finish');
}

/**
 * A catalog that hands out prepared images, as the real one does once they are built: for
 * tests and benchmarks that boot images made here rather than template definitions.
 */
export function catalogOf(images: Record<string, BuiltImage>): TemplateCatalog {
  const image = (name: string): BuiltImage => {
    const found = images[name];
    if (!found) throw new SandboxError('not_found', `template: unknown template "${name}"`, { field: 'template' });
    return found;
  };
  const catalog: Pick<TemplateCatalog, 'names' | 'list' | 'image' | 'definition' | 'defaultName'> = {
    names: () => Object.keys(images),
    list: async () => [],
    image: async (name) => image(name),
    definition: (name) => ({ defaults: image(name).template?.defaults ?? { vcpus: 1, memoryMiB: 256 } }) as ReturnType<TemplateCatalog['definition']>,
    defaultName: async () => 'minimal',
  };
  return catalog as unknown as TemplateCatalog;
}

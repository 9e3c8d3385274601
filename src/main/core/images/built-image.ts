/**
 * What a built template image is, for everything that boots one (drivers, the sandbox
 * manager, snapshots). Type-only: the builders (minimal-image-builder.ts,
 * rootfs-image-builder.ts) produce it and template-catalog.ts hands it out.
 */

/** A process the guest agent (PID 1) starts after boot, in the definition's order. */
export interface TemplateService {
  name: string;
  argv: string[];
  env?: Record<string, string>;
  /** The user it runs as; root when absent. */
  user?: string;
}

/** The guest's virtual screen (desktop templates); null when there is none. */
export interface TemplateDisplay {
  width: number;
  height: number;
  depth: 24;
}

export interface TemplateDefaults {
  vcpus: number;
  memoryMiB: number;
  /** Rootfs templates only: the size each sandbox's copy-on-write disk gets unless create says otherwise. */
  diskMiB?: number;
}

export type TemplateKind = 'initramfs' | 'rootfs';

/** The template an image was built from, as far as booting it is concerned. */
export interface BuiltImageTemplate {
  name: string;
  kind: TemplateKind;
  defaults: TemplateDefaults;
  display: TemplateDisplay | null;
  services: TemplateService[];
}

export interface BuiltImage {
  /** The image directory, `<images>/<template>/<key>/`. */
  dir: string;
  kernel: string;
  initrd: string;
  /**
   * The kernel command line the image boots with. For a rootfs image this already ends
   * with `microvm.root=/dev/vda microvm.rootfstype=ext4` (ROOTFS_CMDLINE): the disk is the
   * first virtio-blk device. Drivers append their own options (hostname, pci=off, …).
   */
  cmdline: string;
  /** Hash of every input; the directory's name. */
  key: string;
  kernelVersion: string;
  /** The image was already built (no build happened in this call). */
  cached: boolean;
  /** Rootfs images: the raw ext4 image (`rootfs.ext4`) each sandbox's qcow2 overlay is backed by. Never written to. */
  rootfs?: string;
  /** Rootfs images: size of `rootfs` in bytes (the smallest disk a sandbox can get). */
  rootfsBytes?: number;
  /** The template the image belongs to; always set on images the TemplateCatalog hands out. */
  template?: BuiltImageTemplate;
}

/** What a rootfs image's cmdline carries beyond the minimal image's, so the initramfs agent switches root to the disk. */
export const ROOTFS_CMDLINE = 'microvm.root=/dev/vda microvm.rootfstype=ext4';

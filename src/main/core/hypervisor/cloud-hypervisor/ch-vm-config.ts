import constants from '../../../../../guest-agent/protocol/constants.json' with { type: 'json' };
import { SandboxError } from '../../errors/sandbox-error.js';
import type { VmLaunchSpec, VmNic } from '../hypervisor-driver.js';

/** The parts of CH's VmConfig (OpenAPI `VmConfig`) this driver sends. */
export interface ChVmConfig {
  payload: { kernel: string; initramfs: string; cmdline: string };
  cpus: { boot_vcpus: number; max_vcpus: number };
  memory: { size: number };
  serial: { mode: 'File'; file: string };
  console: { mode: 'Off' };
  vsock: { cid: number; socket: string };
  rng: { src: string };
  disks?: ChDiskConfig[];
  net?: ChNetConfig[];
}

/** OpenAPI `NetConfig`: an existing TAP (CH opens it by name) and the guest's MAC. */
export interface ChNetConfig {
  tap: string;
  mac: string;
}

/** OpenAPI `DiskConfig`, the fields this driver sets. */
export interface ChDiskConfig {
  path: string;
  /**
   * Said explicitly: CH's image type auto-detection is deprecated, and when it detects
   * qcow2 it turns backing files off, which would refuse the sandbox's overlay.
   */
  image_type: 'Qcow2';
  /** The overlay reads unwritten blocks from the image's rootfs.ext4; CH (v51+) opens backing files only when asked. */
  backing_files: true;
}

export interface ChVmPaths {
  serialLog: string;
  vsockSocket: string;
}

/**
 * The guest's CID. Each CH VM has its own vsock device behind its own host socket, so
 * every VM can use the first CID a guest may have (0–2 are reserved).
 */
export const GUEST_CID = 3;

/** The host reaches the agent through the hybrid vsock socket on this guest port. */
export const AGENT_VSOCK_PORT = constants.vsockPort;

const MIB = 1024 * 1024;

/**
 * The vm.create body for a sandbox. Serial and console are set explicitly because CH's
 * defaults would discard the serial port and put a virtio console on CH's stdout; the
 * serial port (ttyS0, a 16550 on x86) carries the kernel log to a file from the first
 * line of boot. CH adds nothing to the command line itself. A rootfs template's disk is
 * the sandbox's qcow2 overlay, the only disk, so the guest sees it as /dev/vda.
 */
export function chVmConfig(spec: VmLaunchSpec, paths: ChVmPaths): ChVmConfig {
  const console = /(^|\s)console=/.test(spec.cmdline) ? '' : ' console=ttyS0';
  const net = spec.nic?.cmdline ? ` ${spec.nic.cmdline}` : '';
  return {
    payload: {
      kernel: spec.kernel,
      initramfs: spec.initrd,
      cmdline: `${spec.cmdline} microvm.hostname=${spec.hostname}${net}${console}`,
    },
    cpus: { boot_vcpus: spec.vcpus, max_vcpus: spec.vcpus },
    memory: { size: spec.memoryMiB * MIB },
    serial: { mode: 'File', file: paths.serialLog },
    console: { mode: 'Off' },
    vsock: { cid: GUEST_CID, socket: paths.vsockSocket },
    rng: { src: '/dev/urandom' },
    ...(spec.disk ? { disks: [chDisk(spec.disk.path)] } : {}),
    ...(spec.nic ? { net: [chNet(spec.nic)] } : {}),
  };
}

/**
 * Cloud Hypervisor has no user-mode network stack, and a NIC without a TAP would make CH
 * create one itself, which needs privileges the VMM does not have: only a TAP the host
 * prepared will do.
 */
export function chNet(nic: VmNic): ChNetConfig {
  if (nic.backend.kind !== 'tap') {
    throw new SandboxError(
      'network_unavailable',
      'Cloud Hypervisor needs a TAP for the sandbox\'s network (it has no user-mode networking): run the daemon as root or install the network helper, or use QEMU',
    );
  }
  return { tap: nic.backend.tap, mac: nic.mac };
}

export function chDisk(path: string): ChDiskConfig {
  return { path, image_type: 'Qcow2', backing_files: true };
}

import type { AgentClient } from '../agent/agent-client.js';

export type { HypervisorKind } from '../../../shared/api/sandbox-schemas.js';
import type { HypervisorKind } from '../../../shared/api/sandbox-schemas.js';

/** What a VM boots: the image's kernel and initramfs (and root disk), sized and named. */
export interface VmLaunchSpec {
  /** Stable id of the sandbox; drivers use it in process titles and socket names. */
  id: string;
  /** DNS-label hostname inside the guest. */
  hostname: string;
  kernel: string;
  initrd: string;
  /** The image's kernel command line; drivers append what their platform needs. */
  cmdline: string;
  vcpus: number;
  memoryMiB: number;
  /**
   * The root disk of a rootfs template: the sandbox's own qcow2 overlay over the image's
   * ext4 (its backing file), the guest's first virtio-blk device (/dev/vda). Absent for
   * initramfs-only images.
   */
  disk?: { path: string };
  /** The guest's network interface; absent for a sandbox without network (no NIC at all). */
  nic?: VmNic;
  /**
   * A private directory (mode 0700) for this VM's sockets and logs. It exists and is
   * empty when launch is called; the driver removes what it created in cleanup().
   */
  runDir: string;
}

/**
 * One virtio-net device, the last device of the machine (a restore needs the devices in
 * the order they were saved with).
 */
export interface VmNic {
  /** Locally administered unicast, e.g. 02:5e:…; unique per sandbox. */
  mac: string;
  /**
   * What the frames go to: a TAP on the project bridge, QEMU's user-mode network stack
   * (`restrict`: nothing outside the guest is reachable), or nothing: the device of a
   * restored guest that had a NIC when it was saved, kept so the state loads.
   */
  backend: { kind: 'tap'; tap: string } | { kind: 'user'; restrict: boolean } | { kind: 'unplugged' };
  /** Appended to the kernel command line of a booting guest (microvm.net=…); empty when there is nothing to configure. */
  cmdline: string;
}

/** How to reach a VM's agent; persisted so a restarted daemon can reconnect. */
export type AgentEndpoint =
  | { kind: 'unix'; path: string }
  | { kind: 'ch-vsock'; path: string; port: number };

/**
 * Everything needed to find a running VM again after the daemon restarts: stored in the
 * database, and checked against reality (pid alive, same process, socket answering)
 * before it is trusted.
 */
export interface VmHandle {
  kind: HypervisorKind;
  pid: number;
  /** The process's start time (field 22 of /proc/PID/stat), so a reused pid is not mistaken for ours. */
  pidStartTicks: number;
  runDir: string;
  serialLog: string;
  /** QMP socket (QEMU) or REST API socket (Cloud Hypervisor). */
  controlSocket: string;
  agent: AgentEndpoint;
}

export type VmRunState = 'running' | 'paused' | 'shutdown';

/** One file of a saved VM state, with what it must hash to when it is loaded again. */
export interface VmStateFile {
  /** Relative to the snapshot directory. */
  name: string;
  size: number;
  sha256: string;
}

export interface VmSnapshot {
  files: VmStateFile[];
  /** How long the guest's vCPUs were stopped for the capture. */
  pauseMs: number;
  /** The VMM's own version, e.g. "7.2.15"; a restore needs a compatible one. */
  vmmVersion: string;
}

export interface VmExit {
  /** True when the guest powered itself off (or was shut down by request). */
  clean: boolean;
  code: number | null;
  signal: string | null;
}

/** A VM process the driver controls, whether it launched it or adopted it. */
export interface RunningVm {
  readonly handle: VmHandle;
  pause(): Promise<void>;
  resume(): Promise<void>;
  status(): Promise<VmRunState>;
  /** ACPI power button: a guest that listens shuts down by itself. */
  powerButton(): Promise<void>;
  /** Ends the VMM process at once. */
  kill(): Promise<void>;
  /** Resolves once the VMM process has exited, for any reason. */
  readonly exited: Promise<VmExit>;
  connectAgent(deadlineMs: number): Promise<AgentClient>;
  /**
   * Saves the VM's memory and device state into `dir` (existing, empty): the guest is
   * paused only for the capture and left in the run state it had before.
   */
  snapshot(dir: string): Promise<VmSnapshot>;
  /** Removes the sockets and files the driver created; the process must be gone. */
  cleanup(): Promise<void>;
}

export interface HypervisorDriver {
  readonly kind: HypervisorKind;
  /** Starts the VMM and boots the guest. On failure nothing is left running or on disk. */
  launch(spec: VmLaunchSpec): Promise<RunningVm>;
  /**
   * Starts a fresh VMM from a state `snapshot` saved in `dir` (its files already
   * verified), leaving the guest running exactly where it was captured. `spec` must
   * describe the same machine (vCPUs, memory, kernel) with this VM's own runDir.
   */
  restore(spec: VmLaunchSpec, dir: string): Promise<RunningVm>;
  /** Re-attaches to a VM a previous daemon started, or null when it is not (or no longer) ours. */
  adopt(handle: VmHandle): Promise<RunningVm | null>;
}

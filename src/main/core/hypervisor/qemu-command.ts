import constants from '../../../../guest-agent/protocol/constants.json' with { type: 'json' };
import type { VmNic } from './hypervisor-driver.js';

export type QemuAccel = 'kvm' | 'tcg';

export interface QemuMicrovmSpec {
  kernel: string;
  initrd: string;
  cmdline: string;
  memoryMiB: number;
  vcpus: number;
  accel: QemuAccel;
  /** Unix socket QEMU listens on for the agent's virtio-serial port. */
  agentSocket: string;
  /** File that receives the guest's serial console. */
  serialLog: string;
  /** Unix socket for QMP. */
  qmpSocket?: string;
  /** A qcow2 root disk, attached as the first virtio-blk device (/dev/vda). */
  disk?: string;
  /** A virtio-net device, after every other device. */
  nic?: VmNic;
}

/**
 * The QEMU command line for a `-M microvm` sandbox, as an argument array (never a shell
 * string). virtio devices sit on virtio-mmio and the kernel finds them through ACPI;
 * there is no PCI bus, so `pci=off` saves the kernel a failed probe.
 */
export function qemuMicrovmArgs(spec: QemuMicrovmSpec): string[] {
  const args = [
    '-M', 'microvm',
    '-accel', spec.accel,
    '-cpu', spec.accel === 'kvm' ? 'host' : 'max',
    '-m', String(spec.memoryMiB),
    '-smp', String(spec.vcpus),
    '-nodefaults',
    '-no-user-config',
    '-nographic',
    // Guest power-off and reboot both end the process; the manager decides what is next.
    '-no-reboot',
    '-kernel', spec.kernel,
    '-initrd', spec.initrd,
    '-append', `${spec.cmdline} pci=off`,
    '-serial', `file:${spec.serialLog}`,
    '-device', 'virtio-rng-device',
    '-device', 'virtio-serial-device',
    '-chardev', `socket,id=agent,path=${spec.agentSocket},server=on,wait=off`,
    '-device', `virtserialport,chardev=agent,name=${constants.virtioPortName}`,
  ];
  if (spec.disk) {
    // discard=unmap: blocks the guest frees (fstrim, discard) are given back in the overlay.
    args.push('-drive', `id=root,if=none,format=qcow2,file=${qemuOptionValue(spec.disk)},discard=unmap`, '-device', 'virtio-blk-device,drive=root');
  }
  if (spec.nic) args.push(...qemuNicArgs(spec.nic));
  if (spec.qmpSocket) args.push('-qmp', `unix:${spec.qmpSocket},server=on,wait=off`);
  return args;
}

/**
 * The NIC's netdev and device. User mode is QEMU's slirp stack on the fixed 10.0.2.0/24
 * network (the guest is 10.0.2.15, 10.0.2.2 the host, 10.0.2.3 its DNS forwarder);
 * IPv6 is off, as the guest is configured for IPv4 only and slirp would otherwise
 * offer it a second way to the host.
 */
export function qemuNicArgs(nic: VmNic): string[] {
  const device = `virtio-net-device,mac=${nic.mac}`;
  switch (nic.backend.kind) {
    case 'tap':
      return ['-netdev', `tap,id=net0,ifname=${nic.backend.tap},script=no,downscript=no`, '-device', `${device},netdev=net0`];
    case 'user':
      return [
        '-netdev',
        `user,id=net0,net=10.0.2.0/24,host=10.0.2.2,dns=10.0.2.3,ipv6=off${nic.backend.restrict ? ',restrict=on' : ''}`,
        '-device',
        `${device},netdev=net0`,
      ];
    case 'unplugged':
      return ['-device', device];
  }
}

/** A value inside a QEMU `key=value,…` option list: commas are doubled. */
function qemuOptionValue(value: string): string {
  return value.replaceAll(',', ',,');
}

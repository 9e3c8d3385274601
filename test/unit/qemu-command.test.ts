import { describe, expect, it } from 'vitest';
import constants from '../../guest-agent/protocol/constants.json' with { type: 'json' };
import { qemuMicrovmArgs } from '../../src/main/core/hypervisor/qemu-command.js';

describe('qemuMicrovmArgs', () => {
  const spec = {
    kernel: '/img/vmlinuz',
    initrd: '/img/initrd.img',
    cmdline: 'console=ttyS0 microvm.agent=init',
    memoryMiB: 256,
    vcpus: 2,
    accel: 'tcg' as const,
    agentSocket: '/run/vm 1/agent.sock',
    serialLog: '/run/vm 1/serial.log',
  };

  it('keeps paths with spaces as single arguments (no shell involved)', () => {
    const args = qemuMicrovmArgs(spec);
    expect(args).toContain('socket,id=agent,path=/run/vm 1/agent.sock,server=on,wait=off');
    expect(args).toContain('file:/run/vm 1/serial.log');
  });

  it('names the agent port as the agent looks for it and sizes the VM', () => {
    const args = qemuMicrovmArgs(spec);
    expect(args).toContain(`virtserialport,chardev=agent,name=${constants.virtioPortName}`);
    expect(args[args.indexOf('-m') + 1]).toBe('256');
    expect(args[args.indexOf('-smp') + 1]).toBe('2');
    expect(args[args.indexOf('-append') + 1]).toBe('console=ttyS0 microvm.agent=init pci=off');
    expect(args).not.toContain('-qmp');
  });

  it('attaches a root disk as qcow2 on virtio-blk (the guest sees /dev/vda), with commas in its path escaped', () => {
    expect(qemuMicrovmArgs(spec)).not.toContain('-drive');
    const args = qemuMicrovmArgs({ ...spec, disk: '/data/sandboxes/a,b/disk.qcow2' });
    expect(args[args.indexOf('-drive') + 1]).toBe('id=root,if=none,format=qcow2,file=/data/sandboxes/a,,b/disk.qcow2,discard=unmap');
    expect(args[args.indexOf('-device', args.indexOf('-drive')) + 1]).toBe('virtio-blk-device,drive=root');
  });

  it('uses the host CPU model only with KVM', () => {
    expect(qemuMicrovmArgs({ ...spec, accel: 'kvm' })[5]).toBe('host');
    expect(qemuMicrovmArgs(spec)[5]).toBe('max');
  });
});

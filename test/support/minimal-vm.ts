import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Socket } from 'node:net';
import { connectUnixSocket } from '../../src/main/core/agent/agent-transports.js';
import { buildMinimalImage, type MinimalImage } from '../../src/main/core/images/minimal-image-builder.js';
import { QemuMicrovm } from '../../src/main/core/hypervisor/qemu-microvm-launcher.js';

let image: Promise<MinimalImage> | undefined;

/** The minimal image, built once per test process (and cached on disk across runs). */
export function minimalImage(): Promise<MinimalImage> {
  image ??= buildMinimalImage();
  return image;
}

/** A freshly booted minimal VM in its own temporary directory. */
export async function bootMinimalVm(options: { hostname?: string; memoryMiB?: number } = {}): Promise<QemuMicrovm> {
  const workDir = await mkdtemp(join(tmpdir(), 'microvm-test-'));
  return QemuMicrovm.launch({ image: await minimalImage(), workDir, ...options });
}

/** A raw connection to a VM's agent socket, for tests that misbehave on purpose. */
export async function connectUnixSocketForTest(vm: QemuMicrovm): Promise<Socket> {
  vm.agent.close();
  return connectUnixSocket(join(vm.workDir, 'agent.sock'));
}

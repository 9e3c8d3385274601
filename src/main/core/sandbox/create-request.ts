import { randomBytes } from 'node:crypto';
import type { AppConfig } from '../config/app-config.js';
import { SandboxError } from '../errors/sandbox-error.js';
import type { HypervisorKind } from '../hypervisor/hypervisor-driver.js';
import { NO_EGRESS_RULES, validateNetworkSettings, type Egress, type NetworkMode } from '../network/network-mode.js';

export interface CreateSandboxRequest {
  /** Generated (`sbx-` and 8 hex digits) when omitted. */
  name?: string;
  template?: string;
  vcpus?: number;
  memoryMiB?: number;
  /**
   * Size of the sandbox's copy-on-write disk (rootfs templates): at least the image's own
   * size; the template's default when omitted. The guest's file system grows to it.
   */
  diskMiB?: number;
  labels?: Record<string, string>;
  hypervisor?: 'auto' | HypervisorKind;
  /** `none` (the default): no NIC. `nat`: outbound access from a private address. */
  network?: NetworkMode;
  /** CIDRs a `nat` sandbox may (allow) or may not (deny) reach. */
  egress?: Partial<Egress>;
}

export interface ValidCreateRequest {
  name: string;
  template: string;
  vcpus: number;
  memoryMiB: number;
  /** As requested; checked against the template's image by the manager. */
  diskMiB: number | undefined;
  labels: Record<string, string>;
  hypervisor: 'auto' | HypervisorKind;
  network: NetworkMode;
  egress: Egress;
}

const NAME = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

/** Sandbox names double as guest hostnames and go on the kernel command line: DNS labels only. */
export function isValidSandboxName(name: string): boolean {
  return NAME.test(name);
}
const LABEL_KEY = /^[a-zA-Z0-9._/-]{1,63}$/;

/** The largest disk a sandbox can ask for (1 TiB); the overlay only takes what the guest writes. */
export const MAX_DISK_MIB = 1024 * 1024;

/** What a request without a template or sizes gets: the chosen template and its sizes (config defaults first). */
export interface CreateFallback {
  template: string;
  vcpus: number;
  memoryMiB: number;
}

/** Checks a create request against the rules and the configured limits, naming the field that is wrong. */
export function validateCreateRequest(request: CreateSandboxRequest, config: AppConfig, fallback: CreateFallback): ValidCreateRequest {
  const invalid = (field: string, message: string) =>
    new SandboxError('invalid_argument', `${field}: ${message}`, { field });
  const name = request.name ?? `sbx-${randomBytes(4).toString('hex')}`;
  if (typeof name !== 'string' || !isValidSandboxName(name)) {
    throw invalid('name', `"${String(name)}" is not a valid name: use 1-63 lowercase letters, digits and '-', starting and ending with a letter or digit`);
  }
  const vcpus = request.vcpus ?? fallback.vcpus;
  if (!Number.isInteger(vcpus) || vcpus < 1 || vcpus > config.limits.maxVcpusPerSandbox) {
    throw invalid('vcpus', `${vcpus} is out of range: 1 to ${config.limits.maxVcpusPerSandbox}`);
  }
  const memoryMiB = request.memoryMiB ?? fallback.memoryMiB;
  if (!Number.isInteger(memoryMiB) || memoryMiB < 64 || memoryMiB > config.limits.maxMemoryMiBPerSandbox) {
    throw invalid('memoryMiB', `${memoryMiB} is out of range: 64 to ${config.limits.maxMemoryMiBPerSandbox} MiB`);
  }
  const diskMiB = request.diskMiB;
  if (diskMiB !== undefined && (!Number.isInteger(diskMiB) || diskMiB < 1 || diskMiB > MAX_DISK_MIB)) {
    throw invalid('diskMiB', `${diskMiB} is out of range: 1 to ${MAX_DISK_MIB} MiB`);
  }
  const labels = request.labels ?? {};
  for (const [key, value] of Object.entries(labels)) {
    if (!LABEL_KEY.test(key)) throw invalid('labels', `"${key}" is not a valid label key`);
    if (typeof value !== 'string' || value.length > 256) throw invalid(`labels.${key}`, 'must be a string of at most 256 characters');
  }
  const hypervisor = request.hypervisor ?? 'auto';
  if (!['auto', 'qemu', 'cloud-hypervisor'].includes(hypervisor)) {
    throw invalid('hypervisor', `"${hypervisor}" is not one of auto, qemu, cloud-hypervisor`);
  }
  const { network, egress } = validateNetworkSettings(request, { network: 'none', egress: NO_EGRESS_RULES });
  return { name, template: request.template ?? fallback.template, vcpus, memoryMiB, diskMiB, labels, hypervisor, network, egress };
}

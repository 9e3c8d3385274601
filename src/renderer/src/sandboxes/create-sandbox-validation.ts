import type { CreateSandboxBody } from '../../../shared/api/sandbox-schemas';
import type { SystemInfo } from '../../../shared/api/system-schemas';

/** The create form as typed; empty vCPUs or memory mean the daemon's configured default. */
export interface CreateSandboxFields {
  name: string;
  template: string;
  vcpus: string;
  memoryMiB: string;
}

export type CreateSandboxErrors = Partial<Record<keyof CreateSandboxFields, string>>;

export type CreateSandboxLimits = Pick<SystemInfo['limits'], 'maxVcpusPerSandbox' | 'maxMemoryMiBPerSandbox'>;

const DNS_LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
export const MIN_MEMORY_MIB = 64;

function wholeNumberProblem(text: string, what: string, min: number, max: number | undefined): string | null {
  const range = max === undefined ? `at least ${min}` : `from ${min} to ${max}`;
  if (!/^\d+$/.test(text.trim())) return `${what} must be a whole number ${range}`;
  const value = Number(text);
  if (value < min || (max !== undefined && value > max)) return `${what} must be ${range}`;
  return null;
}

/**
 * Checks the form against the daemon's limits (when known) and builds the request. The
 * daemon checks again: this only lets the user fix what is plainly wrong next to the field.
 */
export function validateCreateSandbox(fields: CreateSandboxFields, limits: CreateSandboxLimits | null): { errors: CreateSandboxErrors; body: CreateSandboxBody | null } {
  const errors: CreateSandboxErrors = {};
  const name = fields.name.trim();
  if (name && !DNS_LABEL.test(name)) {
    errors.name = 'Name must be 1-63 characters of a-z, 0-9 and -, and cannot start or end with -';
  }
  if (!fields.template) errors.template = 'Choose a template';
  const vcpus = fields.vcpus.trim();
  const vcpusProblem = vcpus ? wholeNumberProblem(vcpus, 'vCPUs', 1, limits?.maxVcpusPerSandbox) : null;
  if (vcpusProblem) errors.vcpus = vcpusProblem;
  const memory = fields.memoryMiB.trim();
  const memoryProblem = memory ? wholeNumberProblem(memory, 'Memory', MIN_MEMORY_MIB, limits?.maxMemoryMiBPerSandbox) : null;
  if (memoryProblem) errors.memoryMiB = `${memoryProblem} MiB`;

  if (Object.keys(errors).length > 0) return { errors, body: null };
  const body: CreateSandboxBody = { template: fields.template };
  if (name) body.name = name;
  if (vcpus) body.vcpus = Number(vcpus);
  if (memory) body.memoryMiB = Number(memory);
  return { errors, body };
}

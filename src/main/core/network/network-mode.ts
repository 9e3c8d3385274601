import { NETWORK_MODES, type NetworkMode } from '../../../shared/api/sandbox-schemas.js';
import { SandboxError } from '../errors/sandbox-error.js';

export { NETWORK_MODES, type NetworkMode };

/**
 * What a `nat` sandbox may reach, by IPv4 CIDR, enforced on the host. A destination in
 * `deny` is dropped; with a non-empty `allow`, only destinations in it are reachable;
 * an empty `allow` means everything not denied.
 */
export interface Egress {
  allow: string[];
  deny: string[];
}

export interface NetworkSettings {
  network: NetworkMode;
  egress: Egress;
}

/** More rules than this is a list that belongs in a firewall of its own. */
export const MAX_EGRESS_RULES = 64;

export const NO_EGRESS_RULES: Egress = Object.freeze({ allow: [], deny: [] }) as Egress;

export interface Ipv4Cidr {
  /** The address as a 32-bit unsigned number. */
  base: number;
  prefix: number;
}

const OCTET = '(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])';
const ADDRESS = new RegExp(`^${OCTET}\\.${OCTET}\\.${OCTET}\\.${OCTET}$`);

/** A dotted-quad IPv4 address as a number; null when it is not one (no leading zeros, no shorthand). */
export function parseIpv4(text: string): number | null {
  if (!ADDRESS.test(text)) return null;
  return text.split('.').reduce((n, octet) => n * 256 + Number(octet), 0);
}

export function formatIpv4(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

export function maskOf(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}

/**
 * Parses ADDRESS/PREFIX, or a bare address as one host (/32). The address must be the
 * network's first one: 10.0.0.5/24 is refused with the CIDR that was probably meant, as
 * a rule that quietly means something else is worse than an error.
 */
export function parseCidr(text: string): { cidr: Ipv4Cidr } | { error: string } {
  const host = parseIpv4(text);
  if (host !== null) return { cidr: { base: host, prefix: 32 } };
  const match = /^([^/]+)\/(\d{1,2})$/.exec(text);
  const base = match ? parseIpv4(match[1]!) : null;
  const prefix = match ? Number(match[2]) : NaN;
  if (base === null || !(prefix >= 0 && prefix <= 32)) {
    return { error: `"${text}" is not an IPv4 CIDR such as 203.0.113.0/24 (IPv6 is not supported)` };
  }
  const network = (base & maskOf(prefix)) >>> 0;
  if (network !== base) return { error: `"${text}" has host bits set: did you mean ${formatIpv4(network)}/${prefix}?` };
  return { cidr: { base, prefix } };
}

export function formatCidr(cidr: Ipv4Cidr): string {
  return `${formatIpv4(cidr.base)}/${cidr.prefix}`;
}

export function cidrContains(cidr: Ipv4Cidr, address: number): boolean {
  return ((address & maskOf(cidr.prefix)) >>> 0) === cidr.base;
}

export function cidrsOverlap(a: Ipv4Cidr, b: Ipv4Cidr): boolean {
  return a.prefix <= b.prefix ? cidrContains(a, b.base) : cidrContains(b, a.base);
}

/** Whether the policy leaves nothing reachable: a deny that covers every address. */
export function allowsNothing(egress: Egress): boolean {
  return egress.deny.includes('0.0.0.0/0');
}

export function hasEgressRules(egress: Egress): boolean {
  return egress.allow.length > 0 || egress.deny.length > 0;
}

/**
 * Checks a requested network mode and egress policy, naming the field that is wrong
 * (`network`, `egress.allow[2]`…). Duplicates are dropped. A policy on a `none` sandbox
 * is refused: it would apply to nothing and suggest a protection that is not there.
 */
export function validateNetworkSettings(request: { network?: unknown; egress?: unknown }, fallback: NetworkSettings): NetworkSettings {
  const invalid = (field: string, message: string) => new SandboxError('invalid_argument', `${field}: ${message}`, { field });
  const network = request.network ?? fallback.network;
  if (typeof network !== 'string' || !(NETWORK_MODES as readonly string[]).includes(network)) {
    throw invalid('network', `${JSON.stringify(network)} is not one of ${NETWORK_MODES.join(', ')}`);
  }
  let egress = fallback.egress;
  if (request.egress !== undefined) {
    if (typeof request.egress !== 'object' || request.egress === null || Array.isArray(request.egress)) throw invalid('egress', 'must be an object { allow, deny }');
    const given = request.egress as Record<string, unknown>;
    for (const key of Object.keys(given)) {
      if (key !== 'allow' && key !== 'deny') throw invalid(`egress.${key}`, 'is not a known field (allow, deny)');
    }
    egress = { allow: cidrList(given.allow, 'egress.allow', invalid), deny: cidrList(given.deny, 'egress.deny', invalid) };
  }
  if (network === 'none' && hasEgressRules(egress)) {
    throw invalid('egress', 'an egress policy needs network "nat": a sandbox with network "none" has no NIC to apply it to');
  }
  return { network: network as NetworkMode, egress };
}

function cidrList(value: unknown, field: string, invalid: (field: string, message: string) => SandboxError): string[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) throw invalid(field, 'must be a list of IPv4 CIDRs');
  if (value.length > MAX_EGRESS_RULES) throw invalid(field, `has ${value.length} entries; at most ${MAX_EGRESS_RULES} are allowed`);
  const out: string[] = [];
  value.forEach((entry: unknown, i) => {
    if (typeof entry !== 'string') throw invalid(`${field}[${i}]`, 'must be a string such as 203.0.113.0/24');
    const parsed = parseCidr(entry);
    if ('error' in parsed) throw invalid(`${field}[${i}]`, parsed.error);
    const text = formatCidr(parsed.cidr);
    if (!out.includes(text)) out.push(text);
  });
  return out;
}

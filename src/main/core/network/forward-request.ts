import { BlockList, isIP } from 'node:net';
import { DEFAULT_FORWARD_ADDRESS } from '../../../shared/api/port-schemas.js';
import { SandboxError } from '../errors/sandbox-error.js';

export interface ForwardRequest {
  guestPort: number;
  /** 0 or omitted: a free port the system picks. */
  hostPort?: number;
  /** An IP address of this host; 127.0.0.1 when omitted. */
  address?: string;
  /** Needed for an address that is not loopback. */
  allowRemote?: boolean;
}

export interface ValidForwardRequest {
  guestPort: number;
  hostPort: number;
  address: string;
}

const LOOPBACK = new BlockList();
LOOPBACK.addSubnet('127.0.0.0', 8, 'ipv4');
LOOPBACK.addAddress('::1', 'ipv6');

/** Whether only this machine can reach an address (127.0.0.0/8, ::1, and their IPv4-mapped forms). */
export function isLoopbackAddress(address: string): boolean {
  const family = isIP(address);
  return family !== 0 && LOOPBACK.check(address, family === 6 ? 'ipv6' : 'ipv4');
}

/**
 * The forward to open, or invalid_argument naming the field. The address must be an IP
 * literal (a host name could resolve to anything later), and one other machines can reach
 * needs allowRemote: whoever reaches it reaches the guest port, with no token asked.
 */
export function checkForwardRequest(request: ForwardRequest): ValidForwardRequest {
  const { guestPort, hostPort = 0, address = DEFAULT_FORWARD_ADDRESS, allowRemote = false } = request;
  if (!isPort(guestPort)) throw invalid('guestPort', `guestPort: ${String(guestPort)} is not a TCP port (1-65535)`);
  if (!isPort(hostPort) && hostPort !== 0) throw invalid('hostPort', `hostPort: ${String(hostPort)} is not a TCP port (1-65535, or 0 for any free one)`);
  if (typeof address !== 'string' || isIP(address) === 0) {
    throw invalid('address', `address: "${String(address)}" is not an IPv4 or IPv6 address (e.g. 127.0.0.1 or ::1)`);
  }
  if (!isLoopbackAddress(address) && !allowRemote) {
    throw invalid(
      'address',
      `address: ${address} is not a loopback address, so other machines could reach the guest's port ${guestPort} through it without any token; pass allowRemote (--allow-remote) to do it anyway`,
    );
  }
  return { guestPort, hostPort, address };
}

/** Where a person opens a forward: its address, or loopback when it listens on every address. */
export function forwardUrl(address: string, hostPort: number): string {
  const family = isIP(address);
  const reachable = address === '0.0.0.0' ? '127.0.0.1' : family === 6 && /^[0:]+$/.test(address) ? '::1' : address;
  return `http://${isIP(reachable) === 6 ? `[${reachable}]` : reachable}:${hostPort}`;
}

function isPort(value: unknown): value is number {
  return Number.isInteger(value) && (value as number) >= 1 && (value as number) <= 65_535;
}

function invalid(field: string, message: string): SandboxError {
  return new SandboxError('invalid_argument', message, { field });
}

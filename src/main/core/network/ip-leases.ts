import { SandboxError } from '../errors/sandbox-error.js';
import type { Lease, LeaseStore } from '../store/lease-store.js';
import { formatCidr, formatIpv4, parseCidr, type Ipv4Cidr } from './network-mode.js';

/** The bridge's subnet: the gateway is its first address, sandboxes get the ones after it. */
export interface BridgeSubnet {
  cidr: Ipv4Cidr;
  /** e.g. 10.213.0.0/24 */
  text: string;
  gateway: string;
  /** The gateway with the prefix, as the bridge's own address: 10.213.0.1/24. */
  gatewayCidr: string;
  prefix: number;
}

/** Smallest subnet worth a bridge (a gateway and a few sandboxes); /30 would leave one. */
const MAX_PREFIX = 29;

export function bridgeSubnet(text: string): BridgeSubnet | { error: string } {
  const parsed = parseCidr(text);
  if ('error' in parsed) return parsed;
  const { cidr } = parsed;
  if (cidr.prefix < 8 || cidr.prefix > MAX_PREFIX) return { error: `"${text}" must have a prefix between /8 and /${MAX_PREFIX}` };
  const gateway = formatIpv4(cidr.base + 1);
  return { cidr, text: formatCidr(cidr), gateway, gatewayCidr: `${gateway}/${cidr.prefix}`, prefix: cidr.prefix };
}

/** The first address after the gateway that is not taken, below the broadcast address. */
export function firstFreeAddress(subnet: BridgeSubnet, taken: ReadonlySet<string>): string | null {
  const size = 2 ** (32 - subnet.prefix);
  for (let offset = 2; offset < size - 1; offset++) {
    const address = formatIpv4(subnet.cidr.base + offset);
    if (!taken.has(address)) return address;
  }
  return null;
}

/** The sandbox's address on the bridge: its existing lease, or a new one. */
export function leaseAddress(leases: LeaseStore, sandboxId: string, subnet: BridgeSubnet): Lease {
  const lease = leases.lease(sandboxId, subnet.text, (taken) => firstFreeAddress(subnet, taken));
  if (!lease) {
    throw new SandboxError(
      'limit_reached',
      `every address of the bridge subnet ${subnet.text} is leased; destroy a nat sandbox or configure a larger network.subnet`,
    );
  }
  return lease;
}

import { readFile } from 'node:fs/promises';
import { execa } from 'execa';
import { SandboxError } from '../errors/sandbox-error.js';
import { cidrsOverlap, parseCidr, parseIpv4 } from './network-mode.js';
import type { BridgeSubnet } from './ip-leases.js';

interface IpRoute {
  dst: string;
  dev?: string;
  gateway?: string;
}

/**
 * A route of the host's (`ip -j -4 route`, which needs no privileges) that overlaps the
 * bridge subnet and does not go to the bridge itself: a bridge there would hijack or
 * shadow traffic the host already sends somewhere. The default route overlaps
 * everything and is not a clash. Null when there is none.
 */
export async function clashingRoute(subnet: BridgeSubnet, bridge: string): Promise<string | null> {
  const { stdout } = await execa('ip', ['-j', '-4', 'route', 'show'], { env: { LC_ALL: 'C' } }).catch((error: Error) => {
    throw new SandboxError('missing_tool', `cannot list the host's routes with ip(8) to check the bridge subnet: ${error.message}`);
  });
  for (const route of JSON.parse(stdout || '[]') as IpRoute[]) {
    if (route.dst === 'default' || route.dev === bridge) continue;
    const parsed = parseCidr(route.dst.includes('/') ? route.dst : `${route.dst}/32`);
    if ('cidr' in parsed && cidrsOverlap(parsed.cidr, subnet.cidr)) {
      return `${route.dst}${route.gateway ? ` via ${route.gateway}` : ''}${route.dev ? ` dev ${route.dev}` : ''}`;
    }
  }
  return null;
}

/**
 * The resolver a guest on the bridge is given: the host's own upstream servers when they
 * are reachable addresses (systemd-resolved's list of them first, since /etc/resolv.conf
 * then names only its 127.0.0.53 stub), else the gateway, where the user may run a
 * resolver for the bridge.
 */
export async function guestNameserver(gateway: string): Promise<string> {
  for (const file of ['/run/systemd/resolve/resolv.conf', '/etc/resolv.conf']) {
    const text = await readFile(file, 'utf8').catch(() => '');
    for (const line of text.split('\n')) {
      const address = /^\s*nameserver\s+(\S+)/.exec(line)?.[1];
      const n = address === undefined ? null : parseIpv4(address);
      if (address !== undefined && n !== null && n >>> 24 !== 127 && n !== 0) return address;
    }
  }
  return gateway;
}

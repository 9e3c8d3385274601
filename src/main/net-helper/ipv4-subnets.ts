/** IPv4 arithmetic on dotted quads already checked by node:net's isIPv4. */

export interface Ipv4Prefix {
  address: string;
  prefix: number;
}

export function ipv4Number(address: string): number {
  return address.split('.').reduce((n, octet) => n * 256 + Number(octet), 0);
}

export function ipv4Text(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

export function prefixMask(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}

/** The network an address belongs to under its prefix, as `a.b.c.d/p`. */
export function subnetOf({ address, prefix }: Ipv4Prefix): string {
  return `${ipv4Text((ipv4Number(address) & prefixMask(prefix)) >>> 0)}/${prefix}`;
}

export function inSubnet(address: string, cidr: string): boolean {
  const [network = '', prefix = '32'] = cidr.split('/');
  return ((ipv4Number(address) & prefixMask(Number(prefix))) >>> 0) === ipv4Number(network);
}

/** Two subnets overlap when either holds the other's network address. */
export function overlaps(a: Ipv4Prefix, b: Ipv4Prefix): boolean {
  return inSubnet(a.address, subnetOf(b)) || inSubnet(b.address, subnetOf(a));
}

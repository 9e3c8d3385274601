import { isIPv4 } from 'node:net';
import { ipv4Number, ipv4Text, prefixMask, type Ipv4Prefix } from './ipv4-subnets.js';

/**
 * How a helper call ends when it does not succeed. `refused`: an argument (or the caller)
 * is not acceptable, and nothing was changed (exit status 2). `failed`: the call was
 * acceptable but ip or nft could not carry it out (exit status 1). `missing_tool`: ip or
 * nft is not installed (exit status 3).
 */
export type HelperOutcome = 'refused' | 'failed' | 'missing_tool';

export class NetHelperError extends Error {
  override readonly name = 'NetHelperError';

  constructor(
    readonly outcome: HelperOutcome,
    message: string,
  ) {
    super(message);
  }
}

export function refuse(message: string): never {
  throw new NetHelperError('refused', message);
}

/** Who asked: through pkexec (the uid polkit authorized), or root itself (a root daemon, or an admin's shell). */
export interface HelperCaller {
  via: 'pkexec' | 'root' | 'daemon';
  uid: number;
}

const BRIDGE_NAME = /^mvbr[0-9]{1,4}$/;
const TAP_NAME = /^mvt[a-z0-9]{1,12}$/;
const UID = /^(0|[1-9][0-9]{0,9})$/;
const PREFIX = /^(0|[1-9][0-9]?)$/;
/** The largest uid Linux hands out; 4294967295 is (uid_t)-1, "no uid". */
const MAX_UID = 4294967294;

/** An argument as it may be quoted in a message: escaped, and cut short when oversized. */
export function quoted(value: string): string {
  return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
}

export function bridgeName(what: string, value: string): string {
  if (!BRIDGE_NAME.test(value)) refuse(`${what} ${quoted(value)} is not a bridge name (mvbr followed by 1 to 4 digits)`);
  return value;
}

export function tapName(what: string, value: string): string {
  if (!TAP_NAME.test(value)) refuse(`${what} ${quoted(value)} is not a tap name (mvt followed by 1 to 12 lowercase letters or digits)`);
  return value;
}

function parseCidr(what: string, value: string, prefixRequired: boolean): Ipv4Prefix {
  const slash = value.indexOf('/');
  const address = slash === -1 ? value : value.slice(0, slash);
  const prefixText = slash === -1 ? null : value.slice(slash + 1);
  if (!isIPv4(address)) refuse(`${what} ${quoted(value)} is not an IPv4 address${prefixRequired ? ' with a /prefix' : ''}`);
  if (prefixText === null) {
    if (prefixRequired) refuse(`${what} ${quoted(value)} has no /prefix`);
    return { address, prefix: 32 };
  }
  if (!PREFIX.test(prefixText) || Number(prefixText) > 32) refuse(`${what} ${quoted(value)} has a prefix that is not a number from 0 to 32`);
  return { address, prefix: Number(prefixText) };
}

/**
 * A destination block for an egress rule: `a.b.c.d/p` naming the network itself, or a
 * bare address (one host, /32). Host bits set under the prefix are refused rather than
 * masked, since the caller meant something else than what the rule would do.
 */
export function networkCidr(what: string, value: string): string {
  const { address, prefix } = parseCidr(what, value, false);
  const network = (ipv4Number(address) & prefixMask(prefix)) >>> 0;
  if (network !== ipv4Number(address)) {
    refuse(`${what} ${quoted(value)} is not a network address: did you mean ${ipv4Text(network)}/${prefix}?`);
  }
  return `${address}/${prefix}`;
}

export interface GatewayCidr {
  /** The bridge's own address, as `a.b.c.d/p`. */
  cidr: string;
  address: string;
  prefix: number;
  /** The subnet the sandboxes' addresses come from, as `a.b.c.d/p`. */
  subnet: string;
}

/** The bridge's address: a host address inside a subnet with room for sandboxes (/8 to /30). */
export function gatewayCidr(what: string, value: string): GatewayCidr {
  const { address, prefix } = parseCidr(what, value, true);
  if (prefix < 8 || prefix > 30) refuse(`${what} ${quoted(value)} needs a prefix from 8 to 30 (a subnet with room for sandboxes)`);
  const mask = prefixMask(prefix);
  const host = ipv4Number(address);
  const network = (host & mask) >>> 0;
  const broadcast = (network | ~mask) >>> 0;
  if (host === network || host === broadcast) refuse(`${what} ${quoted(value)} is the subnet's ${host === network ? 'network' : 'broadcast'} address, not a host address`);
  unicast(what, address);
  return { cidr: `${address}/${prefix}`, address, prefix, subnet: `${ipv4Text(network)}/${prefix}` };
}

function unicast(what: string, address: string): void {
  const first = Number(address.split('.')[0]);
  if (first === 0 || first === 127 || first >= 224) refuse(`${what} ${quoted(address)} is not a unicast address a sandbox can use`);
}

/** A sandbox's own address (no prefix). */
export function guestAddress(what: string, value: string): string {
  if (!isIPv4(value)) refuse(`${what} ${quoted(value)} is not an IPv4 address`);
  unicast(what, value);
  return value;
}

/**
 * The uid a tap is created for. Through pkexec it must be the caller's own uid, so a user
 * cannot hand a tap to somebody else; root (directly, or the daemon running as root) may
 * name any uid.
 */
export function tapOwner(what: string, value: string, caller: HelperCaller): number {
  if (!UID.test(value) || Number(value) > MAX_UID) refuse(`${what} ${quoted(value)} is not a numeric uid`);
  const uid = Number(value);
  if (caller.via === 'pkexec' && uid !== caller.uid) refuse(`${what} ${uid} is not the caller's uid (${caller.uid}): a tap can only be created for yourself`);
  return uid;
}

/** Refuses anything left over after a verb's own arguments. */
export function noMore(args: readonly string[], from: number): void {
  if (args.length > from) refuse(`unexpected argument ${quoted(args[from] ?? '')}`);
}

export function positional(args: readonly string[], index: number, what: string): string {
  const value = args[index];
  if (value === undefined) refuse(`missing argument ${what}`);
  return value;
}

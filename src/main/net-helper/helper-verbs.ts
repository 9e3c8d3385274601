import { readFileSync, writeFileSync } from 'node:fs';
import { AuditLog, type AuditEntry } from './audit-log.js';
import {
  NetHelperError,
  bridgeName,
  gatewayCidr,
  guestAddress,
  networkCidr,
  noMore,
  positional,
  quoted,
  refuse,
  tapName,
  tapOwner,
  type HelperCaller,
} from './helper-arguments.js';
import { ip, ipJson, nftApply, nftList } from './host-net-tools.js';
import { inSubnet, overlaps, subnetOf, type Ipv4Prefix } from './ipv4-subnets.js';
import {
  TABLE,
  baseRuleset,
  deleteTables,
  emptyState,
  gatewayElement,
  readState,
  sandboxRemoval,
  sandboxRules,
  subnetElement,
  tapChain,
  tapOfChain,
  type NftCommand,
  type ProjectState,
} from './nft-ruleset.js';

/**
 * The helper's verbs: the only things it does. Each one checks all of its arguments before
 * it changes anything (a refusal leaves the host as it was), and each one converges on a
 * state, so running it twice is the same as running it once.
 */

interface Link {
  ifname: string;
  master?: string;
  address?: string;
  linkinfo?: { info_kind?: string; info_data?: { type?: string } };
  addr_info?: Array<{ family: string; local: string; prefixlen: number }>;
}

/** Rule lists longer than this are refused: they would be a mistake, or an attempt to bloat the ruleset. */
const MAX_CIDRS = 256;

async function links(): Promise<Link[]> {
  return ipJson<Link[]>(['-d', 'link', 'show']);
}

async function findLink(name: string): Promise<Link | undefined> {
  return (await links()).find((link) => link.ifname === name);
}

function isTap(link: Link): boolean {
  return link.linkinfo?.info_kind === 'tun' && link.linkinfo.info_data?.type === 'tap';
}

/** The uid a tap belongs to (-1: nobody), from the kernel's own record. */
function ownerOf(tap: string): number {
  try {
    return Number(readFileSync(`/sys/class/net/${tap}/owner`, 'utf8').trim());
  } catch (error) {
    throw new NetHelperError('failed', `cannot read the owner of ${tap}: ${(error as Error).message}`);
  }
}

/** Through pkexec a caller may only act on its own taps; root may act on any. */
function ownTap(tap: Link, caller: HelperCaller): void {
  if (caller.via !== 'pkexec') return;
  const owner = ownerOf(tap.ifname);
  if (owner !== caller.uid) refuse(`TAP ${tap.ifname} belongs to uid ${owner}, not to the caller (${caller.uid})`);
}

async function projectState(): Promise<ProjectState> {
  const state = readState(emptyState(), await nftList(['list', 'tables']));
  for (const family of state.tables) readState(state, await nftList(['list', 'table', family, TABLE]));
  return state;
}

function ipv4Addresses(link: Link): Ipv4Prefix[] {
  return (link.addr_info ?? []).filter((a) => a.family === 'inet').map((a) => ({ address: a.local, prefix: a.prefixlen }));
}

/** The set elements a bridge address put in the tables, as far as they are still there. */
function elementsOf(addresses: readonly Ipv4Prefix[], state: ProjectState): NftCommand[] {
  return addresses.flatMap((a) => [
    ...(state.gateways.has(a.address) ? [gatewayElement('delete', a.address)] : []),
    ...(state.subnets.has(subnetOf(a)) ? [subnetElement('delete', subnetOf(a))] : []),
  ]);
}

async function bridgeEnsure(args: readonly string[]): Promise<void> {
  const bridge = bridgeName('BRIDGE', positional(args, 0, 'BRIDGE'));
  const gateway = gatewayCidr('GATEWAY_CIDR', positional(args, 1, 'GATEWAY_CIDR'));
  noMore(args, 2);
  const all = await ipJson<Link[]>(['-d', 'addr', 'show']);
  const clash = all.find((link) => link.ifname !== bridge && ipv4Addresses(link).some((a) => overlaps(a, gateway)));
  if (clash) refuse(`GATEWAY_CIDR ${gateway.cidr} overlaps the addresses of ${clash.ifname}: choose another subnet`);
  const link = all.find((l) => l.ifname === bridge);
  if (link && link.linkinfo?.info_kind !== 'bridge') refuse(`BRIDGE ${bridge} exists and is not a bridge`);

  // A bridge without its own address takes its lowest port's MAC, so the gateway's MAC would
  // change as TAPs come and go and running guests would lose it for a while.
  if (!link) await ip(['link', 'add', 'name', bridge, 'address', bridgeMac(bridge), 'type', 'bridge']);
  else if (link.address !== bridgeMac(bridge)) await ip(['link', 'set', 'dev', bridge, 'address', bridgeMac(bridge)]);
  const current = link ? ipv4Addresses(link) : [];
  const stale = current.filter((a) => `${a.address}/${a.prefix}` !== gateway.cidr);
  for (const a of stale) await ip(['addr', 'del', `${a.address}/${a.prefix}`, 'dev', bridge]);
  if (stale.length === current.length) await ip(['addr', 'add', gateway.cidr, 'dev', bridge]);
  await ip(['link', 'set', 'dev', bridge, 'up']);
  // Per network namespace; outside one this is the host's own setting (docs/networking.md).
  writeFileSync('/proc/sys/net/ipv4/ip_forward', '1');

  const state = await projectState();
  await nftApply([...baseRuleset(), ...elementsOf(stale, state), gatewayElement('add', gateway.address), subnetElement('add', gateway.subnet)]);
}

async function bridgeDelete(args: readonly string[]): Promise<void> {
  const bridge = bridgeName('BRIDGE', positional(args, 0, 'BRIDGE'));
  noMore(args, 1);
  const all = await ipJson<Link[]>(['-d', 'addr', 'show']);
  const link = all.find((l) => l.ifname === bridge);
  if (link && link.linkinfo?.info_kind !== 'bridge') refuse(`BRIDGE ${bridge} exists and is not a bridge`);
  const ports = all.filter((l) => l.master === bridge).map((l) => l.ifname);
  if (ports.length > 0) throw new NetHelperError('failed', `bridge ${bridge} still has ports (${ports.join(', ')}): delete their taps first`);

  if (link) await ip(['link', 'delete', 'dev', bridge]);
  const otherBridges = all.filter((l) => l.ifname !== bridge && /^mvbr[0-9]{1,4}$/.test(l.ifname) && l.linkinfo?.info_kind === 'bridge');
  const state = await projectState();
  const commands = otherBridges.length === 0 ? deleteTables([...state.tables]) : elementsOf(link ? ipv4Addresses(link) : [], state);
  if (commands.length > 0) await nftApply(commands);
}

async function tapCreate(args: readonly string[], caller: HelperCaller): Promise<void> {
  const tap = tapName('TAP', positional(args, 0, 'TAP'));
  const uid = tapOwner('UID', positional(args, 1, 'UID'), caller);
  const bridge = bridgeName('BRIDGE', positional(args, 2, 'BRIDGE'));
  noMore(args, 3);
  const all = await links();
  const master = all.find((l) => l.ifname === bridge);
  if (master?.linkinfo?.info_kind !== 'bridge') throw new NetHelperError('failed', `bridge ${bridge} does not exist: run bridge-ensure first`);
  const existing = all.find((l) => l.ifname === tap);
  if (existing) {
    if (!isTap(existing)) refuse(`TAP ${tap} exists and is not a tap`);
    const owner = ownerOf(tap);
    if (owner !== uid) refuse(`TAP ${tap} already exists and belongs to uid ${owner}, not ${uid}`);
  } else {
    await ip(['tuntap', 'add', 'dev', tap, 'mode', 'tap', 'user', String(uid)]);
  }
  await ip(['link', 'set', 'dev', tap, 'master', bridge]);
  // An isolated port exchanges frames with the bridge (the host) only, never with another isolated port.
  await ip(['link', 'set', 'dev', tap, 'type', 'bridge_slave', 'isolated', 'on']);
  await ip(['link', 'set', 'dev', tap, 'up']);
}

async function tapDelete(args: readonly string[], caller: HelperCaller): Promise<void> {
  const tap = tapName('TAP', positional(args, 0, 'TAP'));
  noMore(args, 1);
  const link = await findLink(tap);
  if (!link) return;
  if (!isTap(link)) refuse(`TAP ${tap} exists and is not a tap`);
  ownTap(link, caller);
  await ip(['link', 'delete', 'dev', tap]);
}

function egressOptions(args: readonly string[]): { allow: string[]; deny: string[] } {
  const rules = { allow: [] as string[], deny: [] as string[] };
  for (let i = 0; i < args.length; i += 2) {
    const option = args[i] ?? '';
    if (option !== '--allow' && option !== '--deny') refuse(`unexpected argument ${quoted(option)} (expected --allow CIDR or --deny CIDR)`);
    const value = args[i + 1];
    if (value === undefined) refuse(`${option} needs a CIDR`);
    const list = option === '--allow' ? rules.allow : rules.deny;
    list.push(networkCidr(option, value));
    if (list.length > MAX_CIDRS) refuse(`more than ${MAX_CIDRS} ${option} CIDRs`);
  }
  return rules;
}

async function rulesSet(args: readonly string[], caller: HelperCaller): Promise<void> {
  const tap = tapName('TAP', positional(args, 0, 'TAP'));
  const guestIp = guestAddress('GUEST_IP', positional(args, 1, 'GUEST_IP'));
  const rules = egressOptions(args.slice(2));
  const all = await links();
  const link = all.find((l) => l.ifname === tap);
  if (link) ownTap(link, caller);

  const state = await projectState();
  if (!state.tables.has('inet') || !state.tables.has('bridge')) throw new NetHelperError('failed', `the nftables tables ${TABLE} are missing: run bridge-ensure first`);
  if (state.gateways.has(guestIp)) refuse(`GUEST_IP ${guestIp} is a gateway address`);
  if (![...state.subnets].some((subnet) => inSubnet(guestIp, subnet))) refuse(`GUEST_IP ${guestIp} is not inside a bridge's subnet (${[...state.subnets].join(', ')})`);
  const chain = tapChain(tap);
  const holder = state.sandboxes.get(guestIp);
  if (holder !== undefined && holder !== chain) {
    const other = tapOfChain(holder);
    if (all.some((l) => l.ifname === other)) refuse(`GUEST_IP ${guestIp} is already the address of tap ${other}`);
  }
  const stale = [...state.sandboxes].filter(([address, target]) => address === guestIp || target === chain).map(([address]) => address);
  await nftApply(sandboxRules(tap, guestIp, rules, state, stale));
}

async function rulesRemove(args: readonly string[], caller: HelperCaller): Promise<void> {
  const tap = tapName('TAP', positional(args, 0, 'TAP'));
  noMore(args, 1);
  const link = await findLink(tap);
  if (link) ownTap(link, caller);
  const commands = sandboxRemoval(tap, await projectState());
  if (commands.length > 0) await nftApply(commands);
}

const VERBS = {
  'bridge-ensure': bridgeEnsure,
  'bridge-delete': bridgeDelete,
  'tap-create': tapCreate,
  'tap-delete': tapDelete,
  'rules-set': rulesSet,
  'rules-remove': rulesRemove,
} satisfies Record<string, (args: readonly string[], caller: HelperCaller) => Promise<void>>;

export type Verb = keyof typeof VERBS;
export const VERB_NAMES = Object.keys(VERBS) as Verb[];

/** Runs one verb for `caller` and records the call, whatever its outcome, in the audit log at `auditPath`. */
export async function runVerb(verb: string, args: readonly string[], caller: HelperCaller, auditPath: string): Promise<void> {
  const audit = AuditLog.open(auditPath);
  let outcome: Pick<AuditEntry, 'outcome' | 'message'> = { outcome: 'ok' };
  try {
    if (!Object.hasOwn(VERBS, verb)) refuse(`unknown verb ${quoted(verb)} (the verbs are ${VERB_NAMES.join(', ')})`);
    await VERBS[verb as Verb](args, caller);
  } catch (error) {
    const e = error instanceof NetHelperError ? error : new NetHelperError('failed', (error as Error).message);
    outcome = { outcome: e.outcome, message: e.message };
    throw e;
  } finally {
    audit.record({ verb, args, caller, ...outcome });
  }
}

/** A fixed, locally administered MAC per bridge name (02:6d:76 is "mv"; the digits follow). */
function bridgeMac(bridge: string): string {
  const n = Number(bridge.slice('mvbr'.length));
  return `02:6d:76:00:${((n >> 8) & 0xff).toString(16).padStart(2, '0')}:${(n & 0xff).toString(16).padStart(2, '0')}`;
}

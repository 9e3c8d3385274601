import type { NftListing } from './host-net-tools.js';

/**
 * The project's nftables rules, as nft JSON commands (applied with `nft -j -f -`, one
 * transaction per verb). Two tables named microvm_sandbox:
 *
 * inet: what sandboxes may reach at layer 3.
 *   forward: routed traffic. Bridge to bridge is dropped (sandboxes never reach each
 *     other, not even through the gateway); replies of established connections pass;
 *     traffic from a bridge jumps, by its source address, to that sandbox's chain
 *     (the `sandboxes` map); a source with no chain is dropped; nothing from elsewhere
 *     starts a connection into a bridge.
 *   tap_<TAP>: one per sandbox: deny CIDRs drop; with an allow list, allow CIDRs
 *     accept and the rest drops; without one, the rest is accepted.
 *   input: traffic from a bridge to the host itself: DNS (udp and tcp 53) and ping to a
 *     gateway address, replies of the host's own connections; the rest (every host
 *     service, IPv6 included) is dropped.
 *   postrouting: masquerade of the bridges' subnets leaving through another interface.
 *
 * bridge: what a tap may send at all (the layer-3 chains key on source addresses, so the
 *   address must be the sandbox's own). input jumps, by the port the frame came in on, to
 *   that tap's chain (the `ports` map): ARP and IPv4 with the sandbox's address pass,
 *   everything else (spoofed addresses, IPv6, other ethertypes) drops; a tap with no chain
 *   sends nothing; port-to-port forwarding is dropped (the taps are isolated bridge ports
 *   too).
 *
 * The base chains hold only fixed rules on the `mvbr*` and `mvt*` name patterns; what
 * changes per bridge or sandbox lives in sets, maps and per-tap chains, so every verb is a
 * small transaction that leaves the rest alone, and running a verb twice changes nothing.
 */
export const TABLE = 'microvm_sandbox';
const BRIDGES = 'mvbr*';
const TAPS = 'mvt*';

type Family = 'inet' | 'bridge';
type Expr = Record<string, unknown>;
export type NftCommand = Record<string, unknown>;

const meta = (key: string): Expr => ({ meta: { key } });
const payload = (protocol: string, field: string): Expr => ({ payload: { protocol, field } });
const match = (left: Expr, right: unknown, op = '=='): Expr => ({ match: { op, left, right } });
const established: Expr = match({ ct: { key: 'state' } }, ['established', 'related'], 'in');
const accept: Expr = { accept: null };
const drop: Expr = { drop: null };

function cidrValue(cidr: string): unknown {
  const [addr, len] = cidr.split('/');
  return len === '32' ? addr : { prefix: { addr, len: Number(len) } };
}

const table = (family: Family) => ({ family, name: TABLE });
const inTable = (family: Family) => ({ family, table: TABLE });
const rule = (family: Family, chain: string, comment: string | null, ...expr: Expr[]): NftCommand => ({
  add: { rule: { ...inTable(family), chain, expr, ...(comment ? { comment } : {}) } },
});
const baseChain = (family: Family, name: string, type: string, hook: string, prio: number): NftCommand[] => [
  { add: { chain: { ...inTable(family), name, type, hook, prio, policy: 'accept' } } },
  { flush: { chain: { ...inTable(family), name } } },
];

const TAP_CHAIN_PREFIX = 'tap_';

export function tapChain(tap: string): string {
  return `${TAP_CHAIN_PREFIX}${tap}`;
}

export function tapOfChain(chain: string): string {
  return chain.slice(TAP_CHAIN_PREFIX.length);
}

/** Tables, sets, maps and base chains with their fixed rules; refilled as a whole, so repeating it is harmless. */
export function baseRuleset(): NftCommand[] {
  const fromBridge = match(meta('iifname'), BRIDGES);
  return [
    { add: { table: table('inet') } },
    { add: { set: { ...inTable('inet'), name: 'gateways', type: 'ipv4_addr' } } },
    { add: { set: { ...inTable('inet'), name: 'subnets', type: 'ipv4_addr', flags: ['interval'] } } },
    { add: { map: { ...inTable('inet'), name: 'sandboxes', type: 'ipv4_addr', map: 'verdict' } } },
    ...baseChain('inet', 'forward', 'filter', 'forward', 0),
    rule('inet', 'forward', 'sandboxes cannot reach each other', fromBridge, match(meta('oifname'), BRIDGES), drop),
    rule('inet', 'forward', null, established, accept),
    rule('inet', 'forward', "each sandbox's egress policy", fromBridge, { vmap: { key: payload('ip', 'saddr'), data: '@sandboxes' } }),
    rule('inet', 'forward', 'no policy, no egress', fromBridge, drop),
    rule('inet', 'forward', 'nothing from outside starts a connection to a sandbox', match(meta('oifname'), BRIDGES), drop),
    ...baseChain('inet', 'input', 'filter', 'input', 0),
    rule('inet', 'input', null, fromBridge, established, accept),
    rule('inet', 'input', 'DNS on the gateway', fromBridge, match(payload('ip', 'daddr'), '@gateways'), match(payload('udp', 'dport'), 53), accept),
    rule('inet', 'input', 'DNS on the gateway', fromBridge, match(payload('ip', 'daddr'), '@gateways'), match(payload('tcp', 'dport'), 53), accept),
    rule('inet', 'input', null, fromBridge, match(payload('ip', 'daddr'), '@gateways'), match(payload('icmp', 'type'), 'echo-request'), accept),
    rule('inet', 'input', "sandboxes cannot reach the host's services", fromBridge, drop),
    ...baseChain('inet', 'postrouting', 'nat', 'postrouting', 100),
    rule('inet', 'postrouting', null, match(payload('ip', 'saddr'), '@subnets'), match(meta('oifname'), BRIDGES, '!='), { masquerade: null }),
    { add: { table: table('bridge') } },
    { add: { map: { ...inTable('bridge'), name: 'ports', type: 'ifname', map: 'verdict' } } },
    ...baseChain('bridge', 'input', 'filter', 'input', -200),
    rule('bridge', 'input', "each tap's own address only", { vmap: { key: meta('iifname'), data: '@ports' } }),
    rule('bridge', 'input', 'a tap without rules sends nothing', match(meta('iifname'), TAPS), drop),
    ...baseChain('bridge', 'forward', 'filter', 'forward', -200),
    rule('bridge', 'forward', 'sandboxes cannot reach each other', match(meta('iifname'), TAPS), drop),
  ];
}

export function gatewayElement(op: 'add' | 'delete', gateway: string): NftCommand {
  return { [op]: { element: { ...inTable('inet'), name: 'gateways', elem: [gateway] } } };
}

export function subnetElement(op: 'add' | 'delete', subnet: string): NftCommand {
  return { [op]: { element: { ...inTable('inet'), name: 'subnets', elem: [cidrValue(subnet)] } } };
}

export function deleteTables(families: readonly Family[]): NftCommand[] {
  return families.map((family) => ({ delete: { table: table(family) } }));
}

/** What the project's tables hold now; read before a change that depends on it. */
export interface ProjectState {
  tables: Set<Family>;
  /** inet `sandboxes`: guest address → chain. */
  sandboxes: Map<string, string>;
  /** bridge `ports`: tap → chain. */
  ports: Map<string, string>;
  chains: Record<Family, Set<string>>;
  gateways: Set<string>;
  subnets: Set<string>;
}

export function emptyState(): ProjectState {
  return { tables: new Set(), sandboxes: new Map(), ports: new Map(), chains: { inet: new Set(), bridge: new Set() }, gateways: new Set(), subnets: new Set() };
}

/** Folds `nft -j list table …` listings of the project's tables into a ProjectState. */
export function readState(state: ProjectState, listing: NftListing): ProjectState {
  for (const item of listing.nftables) {
    const [kind, body] = Object.entries(item)[0] ?? [];
    const object = body as { family?: Family; name?: string; table?: string; elem?: unknown[] } | undefined;
    if (!object || !object.family || (object.table ?? object.name) !== TABLE) continue;
    const family = object.family;
    if (kind === 'table') state.tables.add(family);
    else if (kind === 'chain' && object.name) state.chains[family].add(object.name);
    else if (kind === 'map' && (object.name === 'sandboxes' || object.name === 'ports')) {
      const into = object.name === 'sandboxes' ? state.sandboxes : state.ports;
      for (const element of object.elem ?? []) {
        const [key, verdict] = element as [string, { jump?: { target?: string } }];
        if (typeof key === 'string' && verdict?.jump?.target) into.set(key, verdict.jump.target);
      }
    } else if (kind === 'set' && (object.name === 'gateways' || object.name === 'subnets')) {
      for (const element of object.elem ?? []) {
        const prefix = (element as { prefix?: { addr: string; len: number } }).prefix;
        const value = typeof element === 'string' ? element : prefix ? `${prefix.addr}/${prefix.len}` : null;
        if (value === null) continue;
        if (object.name === 'gateways') state.gateways.add(value);
        else state.subnets.add(value.includes('/') ? value : `${value}/32`);
      }
    }
  }
  return state;
}

export interface EgressRules {
  allow: readonly string[];
  deny: readonly string[];
}

/**
 * Installs (or replaces) one sandbox's chains and points its address and its tap at them.
 * `staleAddresses` are keys of `sandboxes` to drop first: the tap's previous address, or an
 * address a deleted tap left behind.
 */
export function sandboxRules(tap: string, guestIp: string, rules: EgressRules, state: ProjectState, staleAddresses: readonly string[]): NftCommand[] {
  const chain = tapChain(tap);
  const destination = (cidr: string) => match(payload('ip', 'daddr'), cidrValue(cidr));
  const egress = [
    ...rules.deny.map((cidr) => rule('inet', chain, 'denied', destination(cidr), drop)),
    ...rules.allow.map((cidr) => rule('inet', chain, 'allowed', destination(cidr), accept)),
    rules.allow.length > 0 ? rule('inet', chain, 'not on the allow list', drop) : rule('inet', chain, null, accept),
  ];
  return [
    { add: { chain: { ...inTable('inet'), name: chain } } },
    { flush: { chain: { ...inTable('inet'), name: chain } } },
    ...egress,
    ...staleAddresses.map((address) => ({ delete: { element: { ...inTable('inet'), name: 'sandboxes', elem: [address] } } })),
    { add: { element: { ...inTable('inet'), name: 'sandboxes', elem: [[guestIp, { jump: { target: chain } }]] } } },
    { add: { chain: { ...inTable('bridge'), name: chain } } },
    { flush: { chain: { ...inTable('bridge'), name: chain } } },
    rule('bridge', chain, null, match(payload('arp', 'saddr ip'), guestIp), accept),
    rule('bridge', chain, null, match(payload('ip', 'saddr'), guestIp), accept),
    rule('bridge', chain, 'spoofed or not IPv4', drop),
    ...(state.ports.has(tap) ? [{ delete: { element: { ...inTable('bridge'), name: 'ports', elem: [tap] } } }] : []),
    { add: { element: { ...inTable('bridge'), name: 'ports', elem: [[tap, { jump: { target: chain } }]] } } },
  ];
}

/** Removes one sandbox's map entries and chains, whatever of them exists. */
export function sandboxRemoval(tap: string, state: ProjectState): NftCommand[] {
  const chain = tapChain(tap);
  const addresses = [...state.sandboxes].filter(([, target]) => target === chain).map(([address]) => address);
  return [
    ...addresses.map((address) => ({ delete: { element: { ...inTable('inet'), name: 'sandboxes', elem: [address] } } })),
    ...(state.ports.get(tap) === chain ? [{ delete: { element: { ...inTable('bridge'), name: 'ports', elem: [tap] } } }] : []),
    ...(state.chains.inet.has(chain) ? [{ delete: { chain: { ...inTable('inet'), name: chain } } }] : []),
    ...(state.chains.bridge.has(chain) ? [{ delete: { chain: { ...inTable('bridge'), name: chain } } }] : []),
  ];
}

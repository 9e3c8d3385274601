import { readFileSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestNamespace, bundleHelper, type Run } from './test-namespace.js';

/**
 * The installed helper program (bundled as scripts/install-net-helper.sh does), run as root
 * inside a network namespace this test creates: its refusals change nothing, its verbs
 * really build the bridge, tap and nftables rules, twice is the same as once, and the
 * delete verbs leave nothing of the project behind.
 */
let ns: TestNamespace;
let helper: ReturnType<typeof bundleHelper>;
let audit: string;

beforeAll(() => {
  helper = bundleHelper();
  audit = join(helper.dir, 'audit.log');
  ns = new TestNamespace();
});

afterAll(() => {
  ns?.close();
  helper?.cleanup();
});

function call(...args: string[]): Run {
  return ns.exec([helper.program, ...args], { MICROVM_NET_HELPER_AUDIT: audit });
}

function ok(...args: string[]): void {
  const result = call(...args);
  expect(result.stderr).toBe('');
  expect(result.status, `${args.join(' ')}: ${result.stderr}`).toBe(0);
}

/**
 * The helper as pkexec runs it: PKEXEC_UID set, which also makes it ignore
 * MICROVM_NET_HELPER_AUDIT and write the default log, so /var/log is a tmpfs in a mount
 * namespace of its own; what the helper wrote there comes back on stdout.
 */
function callAsPkexec(uid: number, ...args: string[]): Run {
  const script = 'mount -t tmpfs tmpfs /var/log && "$@"; status=$?; cat /var/log/microvm-sandbox/net-helper.log; exit $status';
  return ns.exec(['unshare', '--mount', '--propagation', 'private', 'bash', '-c', script, 'bash', helper.program, ...args], {
    PKEXEC_UID: String(uid),
    MICROVM_NET_HELPER_AUDIT: audit,
  });
}

function auditEntries(): Array<{ verb: string; args: string[]; outcome: string; via: string; uid: number; message?: string }> {
  return readFileSync(audit, 'utf8')
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line));
}

function link(name: string): { address: string; linkinfo?: { info_kind: string; info_data?: { type: string }; info_slave_data?: { isolated: boolean } }; master?: string; flags: string[]; addr_info: Array<{ family: string; local: string; prefixlen: number }> } | undefined {
  return (JSON.parse(ns.execOk(['ip', '-j', '-d', 'addr', 'show'])) as Array<{ ifname: string }>).find((l) => l.ifname === name) as never;
}

function ruleset(): string {
  return ns.execOk(['nft', 'list', 'ruleset']);
}

function expectRefused(result: Run, mentions: string): void {
  expect(result.status, result.stderr).toBe(2);
  const lines = result.stderr.split('\n').filter(Boolean);
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(/^microvm-net-helper( [a-z-]+)?: refused: /);
  expect(lines[0]).toContain(mentions);
}

describe('the network helper in a test namespace', () => {
  it('bridge-ensure creates the bridge, its address, forwarding and the nftables tables; twice is once', () => {
    ok('bridge-ensure', 'mvbr0', '10.213.0.1/24');
    const bridge = link('mvbr0');
    expect(bridge?.linkinfo?.info_kind).toBe('bridge');
    expect(bridge?.flags).toContain('UP');
    expect(bridge?.address).toBe('02:6d:76:00:00:00');
    expect(bridge?.addr_info.filter((a) => a.family === 'inet')).toEqual([expect.objectContaining({ local: '10.213.0.1', prefixlen: 24 })]);
    expect(ns.execOk(['cat', '/proc/sys/net/ipv4/ip_forward']).trim()).toBe('1');
    const rules = ruleset();
    expect(rules).toContain('table inet microvm_sandbox');
    expect(rules).toContain('table bridge microvm_sandbox');
    expect(rules).toMatch(/set gateways \{[^}]*elements = \{ 10\.213\.0\.1 \}/);
    expect(rules).toMatch(/set subnets \{[^}]*elements = \{ 10\.213\.0\.0\/24 \}/);
    expect(rules).toContain('iifname "mvbr*" oifname "mvbr*" drop');
    expect(rules).toContain('ip saddr @subnets oifname != "mvbr*" masquerade');
    expect(rules).toContain('iifname "mvbr*" ip daddr @gateways udp dport 53 accept');
    expect(rules).toContain('iifname "mvt*" drop');

    const once = ns.networkState();
    ok('bridge-ensure', 'mvbr0', '10.213.0.1/24');
    expect(ns.networkState()).toEqual(once);
  });

  it('bridge-ensure with another gateway moves the bridge to it', () => {
    ok('bridge-ensure', 'mvbr0', '10.214.0.1/24');
    expect(link('mvbr0')?.addr_info.filter((a) => a.family === 'inet').map((a) => `${a.local}/${a.prefixlen}`)).toEqual(['10.214.0.1/24']);
    expect(ruleset()).toMatch(/set subnets \{[^}]*elements = \{ 10\.214\.0\.0\/24 \}/);
    ok('bridge-ensure', 'mvbr0', '10.213.0.1/24');
    expect(ruleset()).toMatch(/set gateways \{[^}]*elements = \{ 10\.213\.0\.1 \}/);
  });

  it('tap-create makes a tap owned by the uid, an isolated port of the bridge, up; twice is once', () => {
    ok('tap-create', 'mvtabc', '1000', 'mvbr0');
    const tap = link('mvtabc');
    expect(tap?.linkinfo?.info_kind).toBe('tun');
    expect(tap?.linkinfo?.info_data?.type).toBe('tap');
    expect(tap?.master).toBe('mvbr0');
    expect(tap?.linkinfo?.info_slave_data?.isolated).toBe(true);
    expect(tap?.flags).toContain('UP');
    expect(ns.execOk(['cat', '/sys/class/net/mvtabc/owner']).trim()).toBe('1000');
    // The gateway keeps its own MAC: a port with a lower one does not take it over.
    expect(link('mvbr0')?.address).toBe('02:6d:76:00:00:00');

    const once = ns.networkState();
    ok('tap-create', 'mvtabc', '1000', 'mvbr0');
    expect(ns.networkState()).toEqual(once);
  });

  it('rules-set installs the anti-spoofing and egress rules of one tap; twice is once; a new address replaces the old', () => {
    ok('rules-set', 'mvtabc', '10.213.0.5', '--allow', '192.0.2.0/24', '--deny', '192.0.2.128/25', '--allow', '198.51.100.7');
    const rules = ruleset();
    expect(rules).toContain('elements = { 10.213.0.5 : jump tap_mvtabc }');
    expect(rules).toContain('elements = { "mvtabc" : jump tap_mvtabc }');
    const inet = /table inet microvm_sandbox[\s\S]*?chain tap_mvtabc \{([^}]*)\}/.exec(rules)?.[1] ?? '';
    expect(inet.trim().split('\n').map((line) => line.trim())).toEqual([
      'ip daddr 192.0.2.128/25 drop comment "denied"',
      'ip daddr 192.0.2.0/24 accept comment "allowed"',
      'ip daddr 198.51.100.7 accept comment "allowed"',
      'drop comment "not on the allow list"',
    ]);
    const bridge = /table bridge microvm_sandbox[\s\S]*?chain tap_mvtabc \{([^}]*)\}/.exec(rules)?.[1] ?? '';
    expect(bridge.trim().split('\n').map((line) => line.trim())).toEqual(['arp saddr ip 10.213.0.5 accept', 'ip saddr 10.213.0.5 accept', 'drop comment "spoofed or not IPv4"']);

    const once = ns.networkState();
    ok('rules-set', 'mvtabc', '10.213.0.5', '--allow', '192.0.2.0/24', '--deny', '192.0.2.128/25', '--allow', '198.51.100.7');
    expect(ns.networkState()).toEqual(once);

    ok('rules-set', 'mvtabc', '10.213.0.6');
    const replaced = ruleset();
    expect(replaced).toContain('elements = { 10.213.0.6 : jump tap_mvtabc }');
    expect(replaced).not.toContain('10.213.0.5');
    expect(/table inet microvm_sandbox[\s\S]*?chain tap_mvtabc \{([^}]*)\}/.exec(replaced)?.[1]?.trim()).toBe('accept');
  });

  it('refuses bad names, uids, addresses and verbs: exit status 2, one line naming the argument, nothing changed', async () => {
    const cases: Array<[string[], string]> = [
      [['tap-create', 'mvt/abc', '1000', 'mvbr0'], 'TAP "mvt/abc" is not a tap name'],
      [['tap-create', 'mvt..', '1000', 'mvbr0'], 'TAP "mvt.." is not a tap name'],
      [['tap-delete', '../mvtabc'], 'TAP "../mvtabc"'],
      [['tap-create', 'mvt abc', '1000', 'mvbr0'], 'TAP "mvt abc"'],
      [['bridge-ensure', 'mvbr0 ', '10.213.0.1/24'], 'BRIDGE "mvbr0 "'],
      [['tap-delete', 'mvt;reboot'], 'TAP "mvt;reboot"'],
      [['rules-remove', 'mvt$(id)'], 'TAP "mvt$(id)"'],
      [['tap-delete', 'mvt`id`'], 'TAP "mvt`id`"'],
      [['bridge-delete', 'mvbr0|true'], 'BRIDGE "mvbr0|true"'],
      [['bridge-delete', 'mvbr0&&id'], 'BRIDGE "mvbr0&&id"'],
      [['tap-create', 'mvtabc\nmvtdef', '1000', 'mvbr0'], 'TAP "mvtabc\\nmvtdef"'],
      [['tap-create', `mvt${'a'.repeat(13)}`, '1000', 'mvbr0'], `TAP "mvt${'a'.repeat(13)}"`],
      [['bridge-ensure', 'mvbr00000', '10.213.0.1/24'], 'BRIDGE "mvbr00000"'],
      [['tap-delete', `mvt${'x'.repeat(5000)}`], '…" is not a tap name'],
      [['tap-create', 'mvtdef', '-1', 'mvbr0'], 'UID "-1" is not a numeric uid'],
      [['tap-create', 'mvtdef', '1e3', 'mvbr0'], 'UID "1e3"'],
      [['tap-create', 'mvtdef', '4294967295', 'mvbr0'], 'UID "4294967295"'],
      [['tap-create', 'mvtabc', '1001', 'mvbr0'], 'TAP mvtabc already exists and belongs to uid 1000'],
      [['bridge-ensure', 'mvbr0', '10.213.0.0/24'], "GATEWAY_CIDR \"10.213.0.0/24\" is the subnet's network address"],
      [['bridge-ensure', 'mvbr0', '10.213.0.1'], 'GATEWAY_CIDR "10.213.0.1" has no /prefix'],
      [['bridge-ensure', 'mvbr0', '10.213.0.1/24;id'], 'GATEWAY_CIDR "10.213.0.1/24;id"'],
      [['bridge-ensure', 'mvbr1', '127.0.0.2/24'], 'GATEWAY_CIDR "127.0.0.2" is not a unicast address'],
      [['bridge-ensure', 'mvbr1', '10.213.0.9/16'], 'overlaps the addresses of mvbr0'],
      [['rules-set', 'mvtabc', '10.213.0.5', '--deny', '10.0.0.0/33'], '--deny "10.0.0.0/33" has a prefix that is not a number from 0 to 32'],
      [['rules-set', 'mvtabc', '10.213.0.5', '--allow', '10.0.0/8'], '--allow "10.0.0/8" is not an IPv4 address'],
      [['rules-set', 'mvtabc', '10.213.0.5', '--deny', '10.0.0.1/8'], 'did you mean 10.0.0.0/8?'],
      [['rules-set', 'mvtabc', '10.213.0.5', '--deny', '010.0.0.0/8'], '--deny "010.0.0.0/8"'],
      [['rules-set', 'mvtabc', '10.213.0.5', '--deny'], '--deny needs a CIDR'],
      [['rules-set', 'mvtabc', '10.213.0.5', '--accept', '0.0.0.0/0'], 'unexpected argument "--accept"'],
      [['rules-set', 'mvtabc', '10.213.0.1'], 'GUEST_IP 10.213.0.1 is a gateway address'],
      [['rules-set', 'mvtabc', '192.0.2.5'], 'GUEST_IP 192.0.2.5 is not inside a bridge'],
      [['rules-set', 'mvtdef', '10.213.0.6'], 'GUEST_IP 10.213.0.6 is already the address of tap mvtabc'],
      [['tap-delete', 'mvtabc', 'mvtdef'], 'unexpected argument "mvtdef"'],
      [['tap-create', 'mvtdef'], 'missing argument UID'],
      [['reboot'], 'unknown verb "reboot"'],
      [['--help'], 'unknown verb "--help"'],
    ];
    const before = ns.networkState();
    const linesBefore = auditEntries().length;
    const results = await Promise.all(cases.map(([args]) => ns.execAsync([helper.program, ...args], { MICROVM_NET_HELPER_AUDIT: audit })));
    results.forEach((result, i) => expectRefused(result, cases[i]![1]));
    expect(ns.networkState()).toEqual(before);

    const logged = auditEntries().slice(linesBefore);
    expect(logged).toHaveLength(cases.length);
    expect(logged.every((entry) => entry.outcome === 'refused' && entry.via === 'root')).toBe(true);
    const asLogged = (args: string[]) => args.map((arg) => arg.slice(0, 256)).join(' ');
    expect(logged.map((entry) => asLogged([entry.verb, ...entry.args])).sort()).toEqual(cases.map(([args]) => asLogged(args)).sort());
  });

  it('through pkexec, a caller acts only for its own uid and on its own taps, and cannot move the audit log', () => {
    const before = ns.networkState();
    const linesBefore = auditEntries().length;
    const foreign = callAsPkexec(1000, 'tap-create', 'mvtdef', '1001', 'mvbr0');
    expectRefused(foreign, "UID 1001 is not the caller's uid (1000)");
    expect(JSON.parse(foreign.stdout)).toMatchObject({ verb: 'tap-create', via: 'pkexec', uid: 1000, outcome: 'refused' });
    for (const args of [['tap-delete', 'mvtabc'], ['rules-remove', 'mvtabc'], ['rules-set', 'mvtabc', '10.213.0.6']]) {
      expectRefused(callAsPkexec(1001, ...args), 'TAP mvtabc belongs to uid 1000, not to the caller (1001)');
    }
    expect(ns.networkState()).toEqual(before);
    expect(auditEntries()).toHaveLength(linesBefore);

    const own = callAsPkexec(1000, 'tap-create', 'mvtabc', '1000', 'mvbr0');
    expect(own.status, own.stderr).toBe(0);
    expect(JSON.parse(own.stdout)).toMatchObject({ verb: 'tap-create', via: 'pkexec', uid: 1000, outcome: 'ok' });
    expect(ns.networkState()).toEqual(before);
  });

  it('takes the verb from its program name when run through a per-verb link, and then only as that verb', () => {
    const verbLink = join(helper.dir, 'microvm-net-helper-tap-create');
    symlinkSync(helper.program, verbLink);
    const asVerb = ns.exec([verbLink, 'mvtabc', '1000', 'mvbr0'], { MICROVM_NET_HELPER_AUDIT: audit });
    expect(asVerb.status, asVerb.stderr).toBe(0);
    expectRefused(ns.exec([verbLink, 'bridge-delete', 'mvbr0'], { MICROVM_NET_HELPER_AUDIT: audit }), 'TAP "bridge-delete" is not a tap name');
    expect(link('mvbr0')).toBeDefined();
  });

  it('bridge-delete will not pull the bridge from under a tap', () => {
    const before = ns.networkState();
    const result = call('bridge-delete', 'mvbr0');
    expect(result.status).toBe(1);
    expect(result.stderr.trim()).toBe('microvm-net-helper bridge-delete: failed: bridge mvbr0 still has ports (mvtabc): delete their taps first');
    expect(ns.networkState()).toEqual(before);
  });

  it('rules-remove, tap-delete and bridge-delete remove everything of the project; twice is once', () => {
    ok('rules-remove', 'mvtabc');
    expect(ruleset()).not.toContain('mvtabc');
    ok('rules-remove', 'mvtabc');
    ok('tap-delete', 'mvtabc');
    expect(link('mvtabc')).toBeUndefined();
    ok('tap-delete', 'mvtabc');
    ok('bridge-delete', 'mvbr0');
    ok('bridge-delete', 'mvbr0');
    expect(link('mvbr0')).toBeUndefined();
    expect(ruleset()).toBe('');
    const links = (JSON.parse(ns.execOk(['ip', '-j', 'link', 'show'])) as Array<{ ifname: string }>).map((l) => l.ifname);
    expect(links).toEqual(['lo']);
  });

  it('wrote one audit line per call', () => {
    const entries = auditEntries();
    expect(entries.length).toBeGreaterThan(40);
    for (const entry of entries) expect(entry).toMatchObject({ verb: expect.any(String), args: expect.any(Array), outcome: expect.stringMatching(/^(ok|refused|failed)$/) });
    expect(entries.filter((entry) => entry.outcome === 'ok').map((entry) => entry.verb)).toEqual([
      'bridge-ensure', 'bridge-ensure', 'bridge-ensure', 'bridge-ensure',
      'tap-create', 'tap-create',
      'rules-set', 'rules-set', 'rules-set',
      'tap-create',
      'rules-remove', 'rules-remove', 'tap-delete', 'tap-delete', 'bridge-delete', 'bridge-delete',
    ]);
  });
});

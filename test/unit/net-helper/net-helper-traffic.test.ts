import { once } from 'node:events';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { TestNamespace, bundleHelper } from './test-namespace.js';

/**
 * The helper's rules with real packets, in namespaces this test creates: `host` has the
 * bridge and an uplink to `internet` (192.0.2.2 and 198.51.100.2, the stand-in servers);
 * two "sandboxes" are namespaces plugged into the bridge by veth pairs named like taps
 * (a packet's path through the bridge and the rules is the same as from a VM's tap).
 * The veths are not isolated ports, unlike the taps tap-create makes, so the test shows
 * that the nftables rules alone keep the sandboxes apart.
 */
const SERVER = `
const [kind, port, address] = process.argv.slice(1);
if (kind === 'http') {
  require('node:http').createServer((q, s) => s.end('from ' + q.socket.remoteAddress)).listen(Number(port), address, () => console.log('listening'));
} else {
  const socket = require('node:dgram').createSocket('udp4');
  socket.on('message', (m, r) => { console.log('got ' + m); socket.send('from ' + r.address, r.port, r.address); });
  socket.bind(Number(port), address, () => console.log('listening'));
}`;

const PROBE = `
const [kind, host, port, local, payload] = process.argv.slice(1);
const localAddress = local || undefined;
const done = (text) => { console.log(text); process.exit(0); };
setTimeout(() => done('unreachable'), 1500);
if (kind === 'http') {
  require('node:http').get({ host, port: Number(port), localAddress }, (res) => { let body = ''; res.on('data', (d) => (body += d)); res.on('end', () => done(body)); }).on('error', () => done('unreachable'));
} else {
  const socket = require('node:dgram').createSocket('udp4');
  socket.on('message', (m) => done(String(m)));
  socket.bind({ address: localAddress }, () => socket.send(payload || 'probe', Number(port), host));
}`;

let helper: ReturnType<typeof bundleHelper>;
let host: TestNamespace;
let internet: TestNamespace;
let one: TestNamespace;
let two: TestNamespace;
let internetUdp: string[];

/** A server printing what it receives; a UDP one answers from the address it is bound to, so bind it to one where there are several. */
async function serve(ns: TestNamespace, kind: 'http' | 'udp', port: number, address = '0.0.0.0'): Promise<string[]> {
  const child = ns.spawn(['node', '-e', SERVER, kind, String(port), address]);
  const lines: string[] = [];
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => lines.push(...chunk.split('\n').filter(Boolean)));
  while (!lines.includes('listening')) await once(child.stdout!, 'data');
  return lines;
}

async function probe(from: TestNamespace, kind: 'http' | 'udp', host: string, port: number, local = '', payload = ''): Promise<string> {
  const result = await from.execAsync(['node', '-e', PROBE, kind, host, String(port), local, payload]);
  return result.stdout.trim();
}

function helperOk(...args: string[]): void {
  const result = host.exec([helper.program, ...args], { MICROVM_NET_HELPER_AUDIT: `${helper.dir}/audit.log` });
  expect(result.status, result.stderr).toBe(0);
}

function plug(sandbox: TestNamespace, port: string, address: string): void {
  host.execOk(['ip', 'link', 'add', port, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', sandbox.name]);
  host.execOk(['ip', 'link', 'set', 'dev', port, 'master', 'mvbr0', 'up']);
  sandbox.execOk(['ip', 'addr', 'add', `${address}/24`, 'dev', 'eth0']);
  sandbox.execOk(['ip', 'link', 'set', 'dev', 'eth0', 'up']);
  sandbox.execOk(['ip', 'route', 'add', 'default', 'via', '10.213.0.1']);
}

beforeAll(async () => {
  helper = bundleHelper();
  host = new TestNamespace();
  internet = new TestNamespace();
  one = new TestNamespace();
  two = new TestNamespace();
  host.execOk(['ip', 'link', 'add', 'uplink', 'type', 'veth', 'peer', 'name', 'uplink', 'netns', internet.name]);
  host.execOk(['ip', 'addr', 'add', '192.0.2.1/24', 'dev', 'uplink']);
  host.execOk(['ip', 'link', 'set', 'dev', 'uplink', 'up']);
  host.execOk(['ip', 'route', 'add', '198.51.100.0/24', 'via', '192.0.2.2']);
  internet.execOk(['ip', 'addr', 'add', '192.0.2.2/24', 'dev', 'uplink']);
  internet.execOk(['ip', 'addr', 'add', '198.51.100.2/24', 'dev', 'uplink']);
  internet.execOk(['ip', 'link', 'set', 'dev', 'uplink', 'up']);
  // Only to show that nothing outside can start a connection to a sandbox.
  internet.execOk(['ip', 'route', 'add', '10.213.0.0/24', 'via', '192.0.2.1']);

  helperOk('bridge-ensure', 'mvbr0', '10.213.0.1/24');
  plug(one, 'mvtone', '10.213.0.5');
  plug(two, 'mvttwo', '10.213.0.6');
  helperOk('rules-set', 'mvtone', '10.213.0.5', '--deny', '198.51.100.0/24');
  helperOk('rules-set', 'mvttwo', '10.213.0.6', '--allow', '198.51.100.0/24');

  await serve(internet, 'http', 8000);
  internetUdp = await serve(internet, 'udp', 9000, '198.51.100.2');
  await serve(one, 'http', 8000);
  await serve(two, 'http', 8000);
  await serve(host, 'http', 8080);
  await serve(host, 'udp', 53);
});

afterAll(() => {
  for (const ns of [one, two, internet, host]) ns?.close();
  helper?.cleanup();
});

it('sandboxes reach the internet masqueraded, within their own policies, and nothing else', async () => {
  const [
    oneToInternet,
    oneToDenied,
    twoToAllowed,
    twoToOther,
    oneToTwo,
    twoToOne,
    oneToHostService,
    oneToHostUplinkAddress,
    oneToGatewayDns,
    internetToOne,
  ] = await Promise.all([
    probe(one, 'http', '192.0.2.2', 8000),
    probe(one, 'http', '198.51.100.2', 8000),
    probe(two, 'http', '198.51.100.2', 8000),
    probe(two, 'http', '192.0.2.2', 8000),
    probe(one, 'http', '10.213.0.6', 8000),
    probe(two, 'http', '10.213.0.5', 8000),
    probe(one, 'http', '10.213.0.1', 8080),
    probe(one, 'http', '192.0.2.1', 8080),
    probe(one, 'udp', '10.213.0.1', 53),
    probe(internet, 'http', '10.213.0.5', 8000),
  ]);
  expect(oneToInternet).toBe('from 192.0.2.1');
  expect(oneToDenied).toBe('unreachable');
  expect(twoToAllowed).toBe('from 192.0.2.1');
  expect(twoToOther).toBe('unreachable');
  expect(oneToTwo).toBe('unreachable');
  expect(twoToOne).toBe('unreachable');
  expect(oneToHostService).toBe('unreachable');
  expect(oneToHostUplinkAddress).toBe('unreachable');
  expect(oneToGatewayDns).toBe('from 10.213.0.5');
  expect(internetToOne).toBe('unreachable');
  expect(one.exec(['busybox', 'ping', '-c', '1', '-W', '2', '10.213.0.1']).status).toBe(0);
});

it("a sandbox cannot send with another sandbox's address to get that sandbox's policy", async () => {
  one.execOk(['ip', 'addr', 'add', '10.213.0.6/32', 'dev', 'eth0']);
  expect(await probe(one, 'udp', '198.51.100.2', 9000, '10.213.0.6', 'spoofed')).toBe('unreachable');
  expect(await probe(two, 'udp', '198.51.100.2', 9000, '', 'genuine')).toBe('from 192.0.2.1');
  expect(internetUdp).toContain('got genuine');
  expect(internetUdp).not.toContain('got spoofed');
});

it('a new policy applies to new connections at once, and removed rules cut the sandbox off', async () => {
  helperOk('rules-set', 'mvtone', '10.213.0.5', '--deny', '192.0.2.0/24');
  expect(await Promise.all([probe(one, 'http', '192.0.2.2', 8000), probe(one, 'http', '198.51.100.2', 8000)])).toEqual(['unreachable', 'from 192.0.2.1']);
  helperOk('rules-remove', 'mvtone');
  expect(await probe(one, 'http', '198.51.100.2', 8000)).toBe('unreachable');
});

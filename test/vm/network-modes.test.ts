import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { projectRoot } from '../../src/main/core/paths/app-paths.js';
import { tapName } from '../../src/main/core/network/sandbox-network.js';
import { processesMentioning } from '../../src/main/core/sandbox/host-resources.js';
import { Sandbox } from '../../src/sdk/index.js';
import { startTestDaemon, type TestDaemon } from '../support/daemon-harness.js';

/*
 * Network modes end to end, as root, entirely inside two network namespaces this file
 * creates: "daemon" (where the daemon, its bridge, TAPs, nftables rules and QEMU live)
 * and "internet" (two HTTP servers on TEST-NET-2 addresses), joined by a veth pair.
 * Nothing is sent on, or changed in, the host's own network namespace.
 */
const root = process.getuid?.() === 0;
const suffix = randomBytes(3).toString('hex');
const DAEMON_NS = `mvtest-d-${suffix}`;
const INTERNET_NS = `mvtest-i-${suffix}`;
const UPLINK = '198.51.100.1';
const SERVER = '198.51.100.10';
const OTHER_SERVER = '198.51.100.20';
const GATEWAY = '10.213.0.1';
const HOST_SERVICE_PORT = 8080;

const ip = (...args: string[]) => execa('ip', args);
const inNs = (ns: string, command: string, args: string[]) => execa('ip', ['netns', 'exec', ns, command, ...args]);

/** A Node HTTP server answering `body` on each address:port, in a namespace. */
function serveIn(ns: string, listen: { address: string; port: number; body: string }[]): Promise<ChildProcess> {
  const script = `
    const http = require('node:http');
    const specs = ${JSON.stringify(listen)};
    let left = specs.length;
    for (const s of specs) http.createServer((_, res) => res.end(s.body)).listen(s.port, s.address, () => { if (--left === 0) console.log('ready'); });
  `;
  const child = spawn('ip', ['netns', 'exec', ns, process.execPath, '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    child.stdout!.once('data', () => resolve(child));
    child.once('exit', (code) => reject(new Error(`server in ${ns} exited with ${code}`)));
  });
}

/** The project's interfaces and nftables tables left in the daemon's namespace. */
async function leftovers(): Promise<string[]> {
  const links = JSON.parse((await inNs(DAEMON_NS, 'ip', ['-j', 'link', 'show'])).stdout) as { ifname: string }[];
  const tables = (await inNs(DAEMON_NS, 'nft', ['list', 'tables'])).stdout;
  return [...links.map((l) => l.ifname).filter((name) => /^(mvt|mvbr)/.test(name)), ...tables.split('\n').filter((line) => line.includes('microvm_sandbox'))];
}

/** The body, or null when the request failed or got no answer within a few seconds. */
async function fetchFrom(sandbox: Sandbox, url: string): Promise<string | null> {
  // Busybox's own `wget -T` crashes (Debian's busybox-static 1.35); the agent's timeout ends it instead.
  const out = await sandbox.exec(['wget', '-q', '-O', '-', url], { timeoutMs: 8_000 });
  return out.exitCode === 0 ? out.stdout : null;
}

async function guestAddress(sandbox: Sandbox): Promise<string> {
  const out = await sandbox.exec(['ip', '-4', '-o', 'addr', 'show', 'eth0']);
  const address = /inet (\d+\.\d+\.\d+\.\d+)\//.exec(out.stdout)?.[1];
  if (!address) throw new Error(`eth0 has no IPv4 address: ${out.stdout}${out.stderr}`);
  return address;
}

describe.runIf(root)('network modes, in namespaces this test creates', () => {
  const servers: ChildProcess[] = [];
  let daemon: TestDaemon | null = null;

  const microvm = (args: string[]) =>
    execa(process.execPath, [join(projectRoot(), 'bin', 'microvm.js'), ...args], { env: daemon!.env, extendEnv: false, reject: false });
  const client = () => ({ socketPath: daemon!.socketPath });

  beforeAll(async () => {
    await ip('netns', 'add', DAEMON_NS);
    await ip('netns', 'add', INTERNET_NS);
    await ip('-n', DAEMON_NS, 'link', 'set', 'lo', 'up');
    await ip('-n', INTERNET_NS, 'link', 'set', 'lo', 'up');
    // Created inside the daemon's namespace with its peer moved straight into the internet's.
    await ip('-n', DAEMON_NS, 'link', 'add', 'uplink', 'type', 'veth', 'peer', 'name', 'wan', 'netns', INTERNET_NS);
    await ip('-n', DAEMON_NS, 'addr', 'add', `${UPLINK}/24`, 'dev', 'uplink');
    await ip('-n', DAEMON_NS, 'link', 'set', 'uplink', 'up');
    await ip('-n', DAEMON_NS, 'route', 'add', 'default', 'via', SERVER);
    await ip('-n', INTERNET_NS, 'addr', 'add', `${SERVER}/24`, 'dev', 'wan');
    await ip('-n', INTERNET_NS, 'addr', 'add', `${OTHER_SERVER}/24`, 'dev', 'wan');
    await ip('-n', INTERNET_NS, 'link', 'set', 'wan', 'up');
    servers.push(
      await serveIn(INTERNET_NS, [
        { address: SERVER, port: 80, body: 'internet-10' },
        { address: OTHER_SERVER, port: 80, body: 'internet-20' },
      ]),
    );
    // A service of the "host" (the daemon's namespace), on every address it has.
    servers.push(await serveIn(DAEMON_NS, [{ address: '0.0.0.0', port: HOST_SERVICE_PORT, body: 'host-service' }]));
  }, 60_000);

  afterAll(async () => {
    if (daemon) {
      for (const sandbox of await Sandbox.list(client()).catch(() => [])) await (await Sandbox.connect(sandbox.id, client())).destroy().catch(() => undefined);
      await daemon.stop();
    }
    for (const server of servers) server.kill('SIGKILL');
    await ip('netns', 'del', DAEMON_NS).catch(() => undefined);
    await ip('netns', 'del', INTERNET_NS).catch(() => undefined);
  }, 120_000);

  describe('TAP on the project bridge', () => {
    const tapDaemon = { commandPrefix: ['ip', 'netns', 'exec', DAEMON_NS], config: { network: { backend: 'tap' } } };
    let a: Sandbox;
    let b: Sandbox;
    let aAddress: string;
    let bAddress: string;

    beforeAll(async () => {
      daemon = await startTestDaemon(tapDaemon);
      [a, b] = await Promise.all([
        Sandbox.create({ ...client(), name: 'net-a', network: 'nat' }),
        Sandbox.create({ ...client(), name: 'net-b', network: 'nat' }),
      ]);
      aAddress = await guestAddress(a);
      bAddress = await guestAddress(b);
    }, 240_000);

    it('gives each sandbox its own lease on the bridge subnet', () => {
      expect(a.info.network).toBe('nat');
      expect(aAddress).toMatch(/^10\.213\.0\.\d+$/);
      expect(bAddress).toMatch(/^10\.213\.0\.\d+$/);
      expect(aAddress).not.toBe(bAddress);
    });

    it('reaches the internet through the host', async () => {
      expect(await fetchFrom(a, `http://${SERVER}/`)).toBe('internet-10');
      expect(await fetchFrom(b, `http://${SERVER}/`)).toBe('internet-10');
    }, 60_000);

    it('cannot reach another sandbox', async () => {
      await b.spawn(['httpd', '-f', '-p', '8000', '-h', '/tmp']);
      await b.exec(['sh', '-c', 'echo peer > /tmp/index.html']);
      // The server answers inside b itself, so only the path between sandboxes is shut.
      expect(await fetchFrom(b, 'http://127.0.0.1:8000/')).toBe('peer\n');
      expect(await fetchFrom(a, `http://${bAddress}:8000/`)).toBeNull();
      expect((await a.exec(['ping', '-c', '1', '-W', '2', bAddress])).exitCode).not.toBe(0);
    }, 60_000);

    it("cannot reach the host's services, but may ping the gateway", async () => {
      expect(await fetchFrom(a, `http://${GATEWAY}:${HOST_SERVICE_PORT}/`)).toBeNull();
      expect(await fetchFrom(a, `http://${UPLINK}:${HOST_SERVICE_PORT}/`)).toBeNull();
      expect((await a.exec(['ping', '-c', '1', '-W', '3', GATEWAY])).exitCode).toBe(0);
    }, 60_000);

    it('changes the policy only while stopped; a deny rule blocks one destination and not another', async () => {
      const refused = await microvm(['network', 'set', 'net-a', '--deny', `${OTHER_SERVER}/32`]);
      expect(refused.exitCode).toBe(4);
      expect(refused.stderr).toMatch(/cannot change the network of sandbox "net-a": it is running; stop it first/);

      await b.destroy();
      await a.stop();
      const bad = await microvm(['network', 'set', 'net-a', '--deny', '198.51.100.20/24']);
      expect(bad.exitCode).toBe(2);
      expect(bad.stderr).toMatch(/egress\.deny\[0\]: "198\.51\.100\.20\/24" has host bits set: did you mean 198\.51\.100\.0\/24\?/);
      // A bare address is one host.
      const set = await microvm(['network', 'set', 'net-a', '--deny', OTHER_SERVER]);
      expect(set.stderr).toBe('');
      expect(set.exitCode).toBe(0);
      await a.start();
      expect(a.info.egress).toEqual({ allow: [], deny: [`${OTHER_SERVER}/32`] });
      // Stopped and started: the same lease.
      expect(await guestAddress(a)).toBe(aAddress);
      expect(await fetchFrom(a, `http://${SERVER}/`)).toBe('internet-10');
      expect(await fetchFrom(a, `http://${OTHER_SERVER}/`)).toBeNull();
    }, 180_000);

    it('keeps the address on restore and gives a fork its own', async () => {
      const snapshot = await a.snapshots.create({ name: 'net' });
      const [fork] = await a.fork(snapshot.snapshot.id, { names: ['net-fork'] });
      try {
        const forkAddress = await guestAddress(fork!);
        expect(forkAddress).toMatch(/^10\.213\.0\.\d+$/);
        expect(forkAddress).not.toBe(aAddress);
        expect(await fetchFrom(fork!, `http://${SERVER}/`)).toBe('internet-10');
        // The fork inherits its origin's policy.
        expect(await fetchFrom(fork!, `http://${OTHER_SERVER}/`)).toBeNull();
        const mac = (s: Sandbox) => s.exec(['cat', '/sys/class/net/eth0/address']).then((o) => o.stdout.trim());
        expect(await mac(fork!)).not.toBe(await mac(a));
      } finally {
        await fork!.destroy();
      }
      await a.snapshots.restore(snapshot.snapshot.id);
      expect(await guestAddress(a)).toBe(aAddress);
      expect(await fetchFrom(a, `http://${SERVER}/`)).toBe('internet-10');
    }, 240_000);

    it('removes the TAP of a sandbox whose VM died while no daemon ran, and keeps its lease', async () => {
      const { dataDir, process: child } = daemon!;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGKILL');
      await exited;
      for (const pid of await processesMentioning(`${dataDir}/`)) process.kill(pid, 'SIGKILL');
      while ((await processesMentioning(`${dataDir}/`)).length > 0) await new Promise((resolve) => setTimeout(resolve, 100));
      expect(await leftovers()).toContain(tapName(a.id));

      daemon = await startTestDaemon({ ...tapDaemon, dataDir });
      a = await Sandbox.connect('net-a', client());
      expect(a.info.state).toBe('crashed');
      expect(await leftovers()).toEqual([]);
      await a.start();
      expect(await guestAddress(a)).toBe(aAddress);
    }, 120_000);

    it('leaves no TAP, bridge or nftables table once the sandboxes are gone and the daemon stopped', async () => {
      await a.destroy();
      expect(await leftovers()).toEqual([]);
      expect(await daemon!.stop()).toEqual([]);
      daemon = null;
      expect(await leftovers()).toEqual([]);
    }, 60_000);
  });

  describe('QEMU user mode', () => {
    beforeAll(async () => {
      daemon = await startTestDaemon({ commandPrefix: ['ip', 'netns', 'exec', DAEMON_NS], config: { network: { backend: 'user' } } });
    }, 60_000);

    it('refuses an egress policy it cannot enforce', async () => {
      const refused = await microvm(['create', '--network', 'nat', '--deny', `${OTHER_SERVER}/32`]);
      expect(refused.exitCode).toBe(1);
      expect(refused.stderr).toMatch(/egress: QEMU user-mode networking .* cannot enforce an allow or deny list/);
      expect(await Sandbox.list(client())).toEqual([]);
    });

    it('fetches from the same server, and restrict=on cuts it off', async () => {
      const sandbox = await Sandbox.create({ ...client(), name: 'net-user', network: 'nat' });
      try {
        expect(await guestAddress(sandbox)).toBe('10.0.2.15');
        expect(await fetchFrom(sandbox, `http://${SERVER}/`)).toBe('internet-10');
        await sandbox.stop();
        await sandbox.setNetwork({ egress: { deny: ['0.0.0.0/0'] } });
        await sandbox.start();
        expect(await fetchFrom(sandbox, `http://${SERVER}/`)).toBeNull();
      } finally {
        await sandbox.destroy();
      }
      expect(await daemon!.stop()).toEqual([]);
      daemon = null;
      expect(await leftovers()).toEqual([]);
    }, 240_000);
  });
});

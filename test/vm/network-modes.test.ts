import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { projectRoot } from '../../src/main/core/paths/app-paths.js';
import { tapName } from '../../src/main/core/network/sandbox-network.js';
import { processesMentioning } from '../../src/main/core/sandbox/host-resources.js';
import { Sandbox } from '../../src/sdk/index.js';
import { startTestDaemon, type TestDaemon } from '../support/daemon-harness.js';
import { LAB_OTHER_SERVER as OTHER_SERVER, LAB_SERVER as SERVER, LAB_UPLINK as UPLINK, NetworkLab } from '../support/network-lab.js';

/*
 * Network modes end to end, as root, entirely inside the namespaces of a network lab
 * (test/support/network-lab.ts): the daemon, its bridge, TAPs, nftables rules and QEMU in
 * one, the "internet" with two HTTP servers in the other.
 */
const root = process.getuid?.() === 0;
const lab = new NetworkLab();
const GATEWAY = '10.213.0.1';
const HOST_SERVICE_PORT = 8080;

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
  let daemon: TestDaemon | null = null;

  const microvm = (args: string[]) =>
    execa(process.execPath, [join(projectRoot(), 'bin', 'microvm.js'), ...args], { env: daemon!.env, extendEnv: false, reject: false });
  const client = () => ({ socketPath: daemon!.socketPath });

  beforeAll(async () => {
    await lab.open();
    // A service of the "host" (the daemon's namespace), on every address it has.
    await lab.serve(lab.daemonNs, [{ address: '0.0.0.0', port: HOST_SERVICE_PORT, body: 'host-service' }]);
  }, 60_000);

  afterAll(async () => {
    if (daemon) {
      for (const sandbox of await Sandbox.list(client()).catch(() => [])) await (await Sandbox.connect(sandbox.id, client())).destroy().catch(() => undefined);
      await daemon.stop();
    }
    await lab.close();
  }, 120_000);

  describe('TAP on the project bridge', () => {
    const tapDaemon = { commandPrefix: lab.commandPrefix, config: { network: { backend: 'tap' } } };
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
      expect(await lab.leftovers()).toContain(tapName(a.id));

      daemon = await startTestDaemon({ ...tapDaemon, dataDir });
      a = await Sandbox.connect('net-a', client());
      expect(a.info.state).toBe('crashed');
      expect(await lab.leftovers()).toEqual([]);
      await a.start();
      expect(await guestAddress(a)).toBe(aAddress);
    }, 120_000);

    it('leaves no TAP, bridge or nftables table once the sandboxes are gone and the daemon stopped', async () => {
      await a.destroy();
      expect(await lab.leftovers()).toEqual([]);
      expect(await daemon!.stop()).toEqual([]);
      daemon = null;
      expect(await lab.leftovers()).toEqual([]);
    }, 60_000);
  });

  describe('QEMU user mode', () => {
    beforeAll(async () => {
      daemon = await startTestDaemon({ commandPrefix: lab.commandPrefix, config: { network: { backend: 'user' } } });
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
      expect(await lab.leftovers()).toEqual([]);
    }, 240_000);
  });
});

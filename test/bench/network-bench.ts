import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { Sandbox, type ExecHandle } from '../../src/sdk/index.js';
import { startTestDaemon } from '../support/daemon-harness.js';
import { LAB_SERVER, NetworkLab } from '../support/network-lab.js';

// Method: docs/benchmarks.md, scenario `network`.

const GUEST_PORT = 9000;
const CONNECTS = 50;
const ROUND_TRIPS = 200;
const TRANSFER_BYTES = 64 * 1024 * 1024;
const BULK_PORT = 8000;
const NAT_RUNS = 3;

/**
 * A TCP server on the guest's 127.0.0.1 whose first byte picks what it does: `e` echoes,
 * `d` sends TRANSFER_BYTES, `u` reads to the end and answers the count.
 */
const GUEST_SERVER = `
import socket, sys, threading
total = int(sys.argv[1])
server = socket.socket()
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind(('127.0.0.1', ${GUEST_PORT}))
server.listen(64)
def serve(c):
    mode = c.recv(1)
    if mode == b'd':
        block = bytes(65536)
        for _ in range(total // 65536):
            c.sendall(block)
    elif mode == b'u':
        n = 0
        while True:
            data = c.recv(65536)
            if not data:
                break
            n += len(data)
        c.sendall(str(n).encode())
    else:
        c.sendall(mode)
        while True:
            data = c.recv(65536)
            if not data:
                break
            c.sendall(data)
    c.close()
while True:
    c, _ = server.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
`;

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.max(0, Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1))] ?? NaN;
}
const round = (n: number, digits = 1) => Number(n.toFixed(digits));
const median = (values: number[]) => percentile(values, 50);
const mibPerSecond = (bytes: number, ms: number) => bytes / 2 ** 20 / (ms / 1000);

async function opened(port: number): Promise<Socket> {
  const socket = connect({ port, host: '127.0.0.1', allowHalfOpen: true });
  socket.setNoDelay(true);
  await once(socket, 'connect');
  return socket;
}

function nextData(socket: Socket): Promise<Buffer> {
  return once(socket, 'data').then(([chunk]) => chunk as Buffer);
}

async function readAll(socket: Socket): Promise<number> {
  let bytes = 0;
  for await (const chunk of socket) bytes += (chunk as Buffer).length;
  return bytes;
}

/** Port forwards (host 127.0.0.1 → guest 127.0.0.1 through the agent) to a sandbox in network mode none. */
async function portForwardFigures(): Promise<Record<string, number>> {
  const daemon = await startTestDaemon();
  let server: ExecHandle | undefined;
  try {
    const sandbox = await Sandbox.create({ socketPath: daemon.socketPath, name: 'bench-ports', template: 'ai-agent' });
    server = await sandbox.spawn(['python3', '-c', GUEST_SERVER, String(TRANSFER_BYTES)]);
    server.stdout.resume();
    server.stderr.resume();
    const { hostPort } = await sandbox.ports.add(GUEST_PORT);

    // Until the guest's server listens, a connection through the forward is reset.
    for (let tries = 0; ; tries++) {
      try {
        const probe = await opened(hostPort);
        probe.write('e');
        await nextData(probe);
        probe.destroy();
        break;
      } catch (error) {
        if (tries > 120) throw error;
        await new Promise((resolve) => setTimeout(resolve, 500));
      }
    }

    const connects: number[] = [];
    for (let i = 0; i < CONNECTS; i++) {
      const started = performance.now();
      const socket = await opened(hostPort);
      socket.write('e');
      await nextData(socket);
      connects.push(performance.now() - started);
      socket.destroy();
    }

    const echo = await opened(hostPort);
    echo.write('e');
    await nextData(echo);
    const trips: number[] = [];
    for (let i = 0; i < ROUND_TRIPS; i++) {
      const started = performance.now();
      echo.write('x');
      await nextData(echo);
      trips.push(performance.now() - started);
    }
    echo.destroy();

    let started = performance.now();
    const download = await opened(hostPort);
    download.end('d');
    const received = await readAll(download);
    const downloadMBs = received / 2 ** 20 / ((performance.now() - started) / 1000);

    started = performance.now();
    const upload = await opened(hostPort);
    upload.write('u');
    const block = Buffer.alloc(1024 * 1024);
    for (let sent = 0; sent < TRANSFER_BYTES; sent += block.length) {
      if (!upload.write(block)) await once(upload, 'drain');
    }
    upload.end();
    const counted = Number((await nextData(upload)).toString());
    const uploadMBs = counted / 2 ** 20 / ((performance.now() - started) / 1000);
    upload.destroy();

    await sandbox.destroy();
    return {
      connectAndFirstByteMsP50: round(percentile(connects, 50), 2),
      connectAndFirstByteMsP99: round(percentile(connects, 99), 2),
      roundTripMsP50: round(percentile(trips, 50), 2),
      roundTripMsP99: round(percentile(trips, 99), 2),
      guestToHostMBs: round(downloadMBs),
      hostToGuestMBs: round(uploadMBs),
    };
  } finally {
    const left = await daemon.stop();
    if (left.length > 0) process.stderr.write(`the daemon left VMMs behind: ${left.join(', ')}\n`);
  }
}

/** Runs curl in the guest and returns its stdout, failing loudly on anything but a clean exit. */
async function curl(sandbox: Sandbox, args: string[]): Promise<{ stdout: string; hostMs: number }> {
  const started = performance.now();
  const out = await sandbox.exec(['curl', '-sS', '--fail', ...args], { timeoutMs: 600_000 });
  const hostMs = performance.now() - started;
  if (out.exitCode !== 0) throw new Error(`curl ${args.join(' ')} in the guest: exit ${out.exitCode}${out.timedOut ? ' (timed out)' : ''}: ${out.stderr}`);
  return { stdout: out.stdout, hostMs };
}

/** Runs work, then cleanup whatever happened; what cleanup reports left behind fails the run (with work's error as the cause). */
async function cleaningUp<T>(work: () => Promise<T>, cleanup: () => Promise<string[]>): Promise<T> {
  let outcome: { value: T } | { error: unknown };
  try {
    outcome = { value: await work() };
  } catch (error) {
    outcome = { error };
  }
  const left = await cleanup();
  if (left.length > 0) throw new Error(`left behind: ${left.join('; ')}`, 'error' in outcome ? { cause: outcome.error } : undefined);
  if ('error' in outcome) throw outcome.error;
  return outcome.value;
}

/**
 * TRANSFER_BYTES between a `nat` sandbox of this backend and the lab's bulk server in the
 * internet namespace, NAT_RUNS times each way. curl in the guest times each transfer
 * (time_total); the host also times the whole exec around it.
 */
async function natFigures(lab: NetworkLab, backend: 'tap' | 'user'): Promise<Record<string, unknown>> {
  const daemon = await startTestDaemon({ commandPrefix: lab.commandPrefix, config: { network: { backend } } });
  const client = { socketPath: daemon.socketPath };
  const measure = async () => {
    const sandbox = await Sandbox.create({ ...client, name: `bench-${backend}`, template: 'ai-agent', network: 'nat' });
    const url = `http://${LAB_SERVER}:${BULK_PORT}`;
    const made = await sandbox.exec(['dd', 'if=/dev/zero', 'of=/tmp/upload.bin', 'bs=1M', `count=${TRANSFER_BYTES / 2 ** 20}`]);
    if (made.exitCode !== 0) throw new Error(`dd in the guest: ${made.stderr}`);
    // One untimed request: the path works (ARP, NAT state) before anything is timed.
    await curl(sandbox, ['-o', '/dev/null', `${url}/bytes/1`]);

    const up = { guest: [] as number[], host: [] as number[] };
    const down = { guest: [] as number[], host: [] as number[] };
    for (let i = 0; i < NAT_RUNS; i++) {
      // `Expect:` off: no 100-continue round trip before the body.
      const sent = await curl(sandbox, ['-H', 'Expect:', '-T', '/tmp/upload.bin', '-w', '\\n%{time_total}', `${url}/upload`]);
      const [counted, seconds] = sent.stdout.trim().split('\n').map(Number);
      if (counted !== TRANSFER_BYTES) throw new Error(`the server counted ${counted} bytes of an upload of ${TRANSFER_BYTES}`);
      up.guest.push(mibPerSecond(TRANSFER_BYTES, seconds! * 1000));
      up.host.push(mibPerSecond(TRANSFER_BYTES, sent.hostMs));

      const got = await curl(sandbox, ['-o', '/dev/null', '-w', '%{size_download} %{time_total}', `${url}/bytes/${TRANSFER_BYTES}`]);
      const [size, downSeconds] = got.stdout.trim().split(' ').map(Number);
      if (size !== TRANSFER_BYTES) throw new Error(`the guest received ${size} bytes of a download of ${TRANSFER_BYTES}`);
      down.guest.push(mibPerSecond(TRANSFER_BYTES, downSeconds! * 1000));
      down.host.push(mibPerSecond(TRANSFER_BYTES, got.hostMs));
    }
    await sandbox.destroy();
    return {
      guestToServerMBs: round(median(up.guest)),
      guestToServerMBsAll: up.guest.map((n) => round(n)),
      guestToServerMBsHostTimed: round(median(up.host)),
      serverToGuestMBs: round(median(down.guest)),
      serverToGuestMBsAll: down.guest.map((n) => round(n)),
      serverToGuestMBsHostTimed: round(median(down.host)),
    };
  };
  return cleaningUp(measure, async () => {
    for (const sandbox of await Sandbox.list(client).catch(() => [])) await (await Sandbox.connect(sandbox.id, client)).destroy().catch(() => undefined);
    const vmms = await daemon.stop();
    const interfaces = await lab.leftovers();
    return [
      ...(vmms.length > 0 ? [`VMMs the ${backend} daemon had not ended: ${vmms.join(', ')}`] : []),
      ...interfaces.map((name) => `${name} in ${lab.daemonNs} after the ${backend} daemon stopped`),
    ];
  });
}

/** Guest → server and server → guest throughput over `nat`, on TAP and in QEMU user mode, inside a network lab. */
async function natThroughput(): Promise<Record<string, unknown>> {
  const lab = new NetworkLab('mvbench');
  const measure = async () => {
    await lab.open();
    await lab.serve(lab.internetNs, [{ address: LAB_SERVER, port: BULK_PORT, bulk: true }]);
    return { transferMiB: TRANSFER_BYTES / 2 ** 20, runs: NAT_RUNS, tap: await natFigures(lab, 'tap'), user: await natFigures(lab, 'user') };
  };
  return cleaningUp(measure, async () => (await lab.close()).map((ns) => `network namespace ${ns}`));
}

export async function networkScenario(): Promise<Record<string, unknown>> {
  const portForward = await portForwardFigures();
  // The lab's namespaces, bridge and TAPs need root; the port forwards do not.
  const nat = process.getuid?.() === 0 ? await natThroughput() : { skipped: 'needs root: it creates network namespaces, and a bridge and TAPs inside them' };
  return { portForward, nat };
}

import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { Sandbox, type ExecHandle } from '../../src/sdk/index.js';
import { startTestDaemon } from '../support/daemon-harness.js';

// Method: docs/benchmarks.md, scenario `network`.

const GUEST_PORT = 9000;
const CONNECTS = 50;
const ROUND_TRIPS = 200;
const TRANSFER_BYTES = 64 * 1024 * 1024;

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

export async function networkScenario(): Promise<Record<string, unknown>> {
  return { portForward: await portForwardFigures() };
}

import { rm } from 'node:fs/promises';
import { connect, createServer, type Server, type Socket } from 'node:net';

const MAX_COMMAND = 32;
// CH hands out host-side ports from 2^30 up.
const FIRST_HOST_PORT = 2 ** 30;

/**
 * CH's hybrid vsock host socket (CH docs/vsock.md): a client writes `CONNECT <port>\n`
 * and gets `OK <host port>\n` once the guest accepts; then bytes pass through. When
 * nothing listens on the guest port, or the command is malformed, the connection is
 * closed without an answer. The one guest port served here leads to the agent socket.
 */
export class HybridVsock {
  private readonly connections = new Set<Socket>();
  private nextHostPort = FIRST_HOST_PORT;

  private constructor(
    private readonly server: Server,
    private readonly path: string,
  ) {}

  /** Binds the socket; fails when the path exists, as CH's bind at device creation does. */
  static listen(path: string, guestPort: number, guestSocket: string): Promise<HybridVsock> {
    return new Promise((resolve, reject) => {
      let vsock: HybridVsock | null = null;
      const server = createServer((socket) => vsock?.accept(socket, guestPort, guestSocket));
      server.once('error', reject);
      server.listen(path, () => {
        server.off('error', reject);
        vsock = new HybridVsock(server, path);
        resolve(vsock);
      });
    });
  }

  async close(): Promise<void> {
    for (const socket of this.connections) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    await rm(this.path, { force: true });
  }

  private accept(client: Socket, guestPort: number, guestSocket: string): void {
    this.track(client);
    let command = '';
    const onData = (chunk: Buffer) => {
      const newline = chunk.indexOf(0x0a);
      command += chunk.subarray(0, newline < 0 ? chunk.length : newline).toString('latin1');
      if (command.length > MAX_COMMAND) return client.destroy();
      if (newline < 0) return;
      client.off('data', onData);
      client.pause();
      const rest = chunk.subarray(newline + 1);
      if (rest.length > 0) client.unshift(rest);
      const port = /^connect\s+(\d+)\s*$/i.exec(command)?.[1];
      if (port === undefined || Number(port) !== guestPort) return client.destroy();
      const guest = connect(guestSocket);
      this.track(guest);
      // No listener in the guest (the agent is not up yet): the guest answers RST and CH
      // closes the client's connection without an OK.
      guest.once('close', () => client.destroy());
      client.once('close', () => guest.destroy());
      guest.once('connect', () => {
        client.write(`OK ${this.nextHostPort++}\n`);
        client.pipe(guest);
        guest.pipe(client);
        client.resume();
      });
    };
    client.on('data', onData);
  }

  private track(socket: Socket): void {
    this.connections.add(socket);
    socket.on('error', () => socket.destroy());
    socket.once('close', () => this.connections.delete(socket));
  }
}

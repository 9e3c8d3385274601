import type { Duplex } from 'node:stream';
import type { WebSocket } from 'ws';

/** Bytes waiting in the WebSocket beyond this stop reading from the guest until they drain. */
const HIGH_WATER_BYTES = 1024 * 1024;
const DRAIN_POLL_MS = 5;

export interface RelayOptions {
  highWaterBytes?: number;
}

/**
 * Relays bytes both ways between a WebSocket and a TCP tunnel into the guest, with
 * back-pressure each way: a full tunnel pauses the socket (TCP then pushes back on the
 * client), a full socket pauses the tunnel (which withholds the agent's credit from the
 * guest). Whichever side ends or fails ends the other; resolves once both are closed.
 */
export function relayWebSocket(socket: WebSocket, tunnel: Duplex, options: RelayOptions = {}): Promise<void> {
  const highWater = options.highWaterBytes ?? HIGH_WATER_BYTES;
  return new Promise((resolve) => {
    let socketClosed = socket.readyState === socket.CLOSED;
    let tunnelClosed = false;
    const settle = () => {
      if (socketClosed && tunnelClosed) resolve();
    };

    socket.on('message', (data: Buffer | ArrayBuffer | Buffer[]) => {
      if (tunnel.destroyed) return;
      const bytes = Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data);
      if (!tunnel.write(bytes)) {
        socket.pause();
        tunnel.once('drain', () => socket.resume());
      }
    });
    socket.on('close', () => {
      socketClosed = true;
      tunnel.destroy();
      settle();
    });
    socket.on('error', () => tunnel.destroy());

    let waiting = false;
    const waitForDrain = () => {
      if (socket.readyState !== socket.OPEN || socket.bufferedAmount <= highWater) {
        waiting = false;
        tunnel.resume();
        return;
      }
      setTimeout(waitForDrain, DRAIN_POLL_MS);
    };
    tunnel.on('data', (chunk: Buffer) => {
      if (socket.readyState !== socket.OPEN) return;
      socket.send(chunk, { binary: true });
      if (!waiting && socket.bufferedAmount > highWater) {
        waiting = true;
        tunnel.pause();
        setTimeout(waitForDrain, DRAIN_POLL_MS);
      }
    });
    tunnel.on('end', () => {
      if (socket.readyState === socket.OPEN) socket.close(1000, 'the guest closed the connection');
    });
    tunnel.on('error', (error: Error & { code?: string }) => {
      if (socket.readyState === socket.OPEN) socket.close(1011, (error.code ?? 'tunnel_error').slice(0, 100));
    });
    tunnel.on('close', () => {
      tunnelClosed = true;
      if (socket.readyState === socket.OPEN) socket.close(1000, 'the guest closed the connection');
      settle();
    });
  });
}

import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';

/**
 * Joins a client's TCP connection to a tunnel into the guest, both ways, as a TCP proxy
 * would: back-pressure through pipe(), and each side's end of writing passed on as a
 * half-close, so a client that shuts down its sending side still gets the answer. A
 * failure of one side resets or ends the other; a client that goes away cancels the tunnel.
 */
export function spliceSocket(socket: Socket, tunnel: Duplex): void {
  socket.pipe(tunnel);
  tunnel.pipe(socket);
  socket.on('error', () => tunnel.destroy());
  socket.once('close', () => tunnel.destroy());
  // A reset in the guest reaches the client as a reset, not as a clean end of the answer.
  tunnel.on('error', () => socket.resetAndDestroy());
  tunnel.once('close', () => {
    if (socket.destroyed) return;
    // The guest's last bytes are still on their way to the client: let them go first.
    if (socket.writableEnded && !socket.writableFinished) socket.once('finish', () => socket.destroy());
    else socket.destroy();
  });
}

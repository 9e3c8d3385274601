import type { IncomingMessage } from 'node:http';

/** Requests over the Unix socket carry no remote address; the socket's 0600 mode is their authentication. */
export function arrivedOverUnixSocket(raw: IncomingMessage): boolean {
  return raw.socket.remoteAddress === undefined;
}

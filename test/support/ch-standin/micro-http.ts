import { createServer, type Server, type Socket } from 'node:net';

/**
 * The HTTP server CH embeds (firecracker-microvm/micro-http), reproduced byte for byte
 * for what a client can observe: status lines without a reason phrase, `Server` and
 * `Connection: keep-alive` on every response, Content-Type/Content-Length only when the
 * response has a length (never on 204), a body read only when Content-Length > 0
 * (chunked encoding is not decoded), at most ten connections, and one request handled
 * at a time across all of them.
 */
export interface HttpRequest {
  method: string;
  path: string;
  /** Null when the request had no Content-Length or Content-Length: 0, as in micro-http. */
  body: Buffer | null;
}

export interface HttpResponse {
  status: number;
  /** Undefined: no body (Content-Length: 0, or nothing at all on a 204). */
  body?: string;
  /** Sent after the response is written, e.g. to exit like CH does after vmm.shutdown. */
  after?: () => void;
}

export type RequestHandler = (request: HttpRequest) => Promise<HttpResponse>;

const MAX_CONNECTIONS = 10;
// micro-http's canned answer to the 11th connection: note the status line and Server header.
const SERVER_FULL =
  'HTTP/1.1 503\r\nServer: Firecracker API\r\nConnection: close\r\nContent-Length: 40\r\n\r\n{ "error": "Too many open connections" }';
const HEADER_LINE_LIMIT = 1024;

function encodeResponse(response: HttpResponse, server = 'Cloud Hypervisor API'): Buffer {
  const lines = [`HTTP/1.1 ${response.status} `, `Server: ${server}`, 'Connection: keep-alive'];
  const body = Buffer.from(response.body ?? '', 'utf8');
  if (response.status !== 204) lines.push('Content-Type: application/json', `Content-Length: ${body.length}`);
  return Buffer.concat([Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1'), body]);
}

export function serveMicroHttp(handler: RequestHandler): Server {
  let connections = 0;
  let queue: Promise<void> = Promise.resolve();
  const server = createServer((socket) => {
    if (connections >= MAX_CONNECTIONS) {
      socket.end(SERVER_FULL);
      return;
    }
    connections += 1;
    socket.once('close', () => (connections -= 1));
    socket.on('error', () => {});
    readRequests(socket, (request) => {
      queue = queue.then(async () => {
        const response = await handler(request);
        if (!socket.destroyed) socket.write(encodeResponse(response));
        response.after?.();
      });
    });
  });
  return server;
}

function readRequests(socket: Socket, onRequest: (request: HttpRequest) => void): void {
  let buffer = Buffer.alloc(0);
  socket.on('data', (chunk: Buffer) => {
    buffer = Buffer.concat([buffer, chunk]);
    for (;;) {
      const parsed = parseRequest(buffer);
      if (parsed === null) return;
      if ('error' in parsed) {
        socket.end(encodeResponse({ status: 400, body: `{ "error": "${parsed.error}\nAll previous unanswered requests will be dropped." }` }, 'Firecracker API'));
        socket.removeAllListeners('data');
        return;
      }
      buffer = buffer.subarray(parsed.consumed);
      onRequest(parsed.request);
    }
  });
}

function parseRequest(buffer: Buffer): { request: HttpRequest; consumed: number } | { error: string } | null {
  const headerEnd = buffer.indexOf('\r\n\r\n');
  if (headerEnd < 0) return buffer.length > 64 * 1024 ? { error: 'Request headers too long.' } : null;
  const [requestLine = '', ...headerLines] = buffer.subarray(0, headerEnd).toString('latin1').split('\r\n');
  const match = /^([A-Z]+) (\S+) HTTP\/1\.[01]$/.exec(requestLine);
  if (!match) return { error: `Invalid request line: ${requestLine}` };
  let contentLength = 0;
  for (const line of headerLines) {
    if (line.length > HEADER_LINE_LIMIT) return { error: 'Header line too long.' };
    const colon = line.indexOf(':');
    if (colon <= 0) return { error: `Invalid header: ${line}` };
    if (line.slice(0, colon).trim().toLowerCase() === 'content-length') {
      contentLength = Number(line.slice(colon + 1).trim());
      if (!Number.isInteger(contentLength) || contentLength < 0) return { error: 'Invalid value. Key:Content-Length; Value: not a number' };
    }
  }
  const bodyStart = headerEnd + 4;
  if (buffer.length < bodyStart + contentLength) return null;
  const body = contentLength > 0 ? Buffer.from(buffer.subarray(bodyStart, bodyStart + contentLength)) : null;
  return { request: { method: match[1]!, path: match[2]!, body }, consumed: bodyStart + contentLength };
}

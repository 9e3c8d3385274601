import { request as httpRequest, type IncomingMessage, type OutgoingHttpHeaders, type RequestOptions } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { WebSocket } from 'ws';
import { daemonPaths } from '../main/core/paths/app-paths.js';
import { MicrovmError } from './microvm-error.js';

export interface ClientOptions {
  /** The daemon's Unix socket (no token needed: the socket is 0600). */
  socketPath?: string;
  /** The daemon's TCP listener, e.g. http://127.0.0.1:7070; needs `token`. */
  url?: string;
  /** Bearer token for `url`. */
  token?: string;
}

export type QueryValue = string | number | boolean | undefined;

export interface RequestInit {
  query?: Record<string, QueryValue>;
  /** Sent as application/json. */
  json?: unknown;
  /** Sent as is (application/octet-stream unless headers say otherwise); a Readable is streamed. */
  body?: Readable | Buffer | string;
  headers?: Record<string, string>;
  signal?: AbortSignal;
}

export const API_PREFIX = '/api/v1';

/** Error codes of a connection nobody answers, or that died under us. */
const UNREACHABLE = new Set(['ECONNREFUSED', 'ENOENT', 'ECONNRESET', 'EPIPE', 'ENOTFOUND', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN', 'ENOTSOCK', 'EACCES']);

type Target = { kind: 'unix'; socketPath: string } | { kind: 'url'; base: URL; token: string | undefined };

/**
 * Where the daemon is and how to talk to it: node:http over the Unix socket or TCP, and
 * `ws` WebSockets over the same. Turns error answers into MicrovmError and a daemon that
 * does not answer into `daemon_unreachable`, naming the socket or URL it tried.
 */
export class ApiTransport {
  private readonly target: Target;
  /** 'unix:/path' or the URL, for messages. */
  readonly description: string;

  constructor(options: ClientOptions = {}) {
    this.target = resolveTarget(options);
    this.description = this.target.kind === 'unix' ? `unix:${this.target.socketPath}` : this.target.base.toString().replace(/\/$/, '');
  }

  /** Sends a request and returns the response once its status is a success; error answers reject. */
  async send(method: string, path: string, init: RequestInit = {}): Promise<IncomingMessage> {
    const { options, url } = this.requestOptions(method, path, init);
    const headers = options.headers as OutgoingHttpHeaders;
    let body: Buffer | Readable | undefined;
    if (init.json !== undefined) {
      body = Buffer.from(JSON.stringify(init.json));
      headers['content-type'] ??= 'application/json';
    } else if (init.body !== undefined) {
      body = typeof init.body === 'string' ? Buffer.from(init.body) : init.body;
      headers['content-type'] ??= 'application/octet-stream';
    }
    if (Buffer.isBuffer(body)) headers['content-length'] = body.length;

    const response = await new Promise<IncomingMessage>((resolve, reject) => {
      const send = url?.protocol === 'https:' ? httpsRequest : httpRequest;
      const req = send(options, resolve);
      let answered = false;
      req.once('response', () => (answered = true));
      // A write error after the answer (the daemon refused a streamed upload early) is not the failure: the answer is.
      req.on('error', (error) => {
        if (!answered) reject(this.failure(error, method, path));
      });
      if (body instanceof Readable) {
        const source = body;
        pipeline(source, req).catch((error: unknown) => {
          if (!answered) reject(this.failure(error, method, path));
          req.destroy();
        });
      } else {
        req.end(body);
      }
    });
    if ((response.statusCode ?? 500) >= 400) {
      const text = await readText(response);
      if (init.body instanceof Readable) init.body.destroy();
      throw MicrovmError.fromResponse(response.statusCode ?? 500, text, headerValue(response.headers['x-request-id']));
    }
    return response;
  }

  /** Opens a WebSocket; a refused upgrade rejects with the MicrovmError of its problem+json. */
  openWebSocket(path: string): Promise<WebSocket> {
    const fullPath = apiPath(path);
    const socket =
      this.target.kind === 'unix'
        ? new WebSocket(`ws+unix://${this.target.socketPath}:${fullPath}`)
        : new WebSocket(new URL(fullPath.replace(/^\//, ''), wsBase(this.target.base)), { headers: this.authHeaders() });
    return new Promise((resolve, reject) => {
      const cleanup = () => socket.removeAllListeners('open').removeAllListeners('unexpected-response');
      socket.once('open', () => {
        cleanup();
        socket.removeListener('error', onError);
        resolve(socket);
      });
      const onError = (error: Error) => {
        cleanup();
        reject(this.failure(error, 'GET', path));
      };
      socket.once('error', onError);
      socket.once('unexpected-response', (_req, response) => {
        cleanup();
        socket.removeListener('error', onError);
        // ws emits an error when the upgrade request is aborted; it says nothing the answer does not.
        socket.on('error', () => undefined);
        void readText(response).then((text) => {
          reject(MicrovmError.fromResponse(response.statusCode ?? 500, text, headerValue(response.headers['x-request-id'])));
          socket.terminate();
        }, reject);
      });
    });
  }

  private requestOptions(method: string, path: string, init: RequestInit): { options: RequestOptions; url?: URL } {
    const query = new URLSearchParams();
    for (const [key, value] of Object.entries(init.query ?? {})) if (value !== undefined) query.set(key, String(value));
    const search = query.size > 0 ? `?${query}` : '';
    const headers: OutgoingHttpHeaders = { ...lowerCaseKeys(init.headers ?? {}) };
    const common = { method, headers, agent: false as const, ...(init.signal ? { signal: init.signal } : {}) };
    if (this.target.kind === 'unix') return { options: { ...common, socketPath: this.target.socketPath, path: `${apiPath(path)}${search}` } };
    Object.assign(headers, this.authHeaders());
    const url = new URL(`${apiPath(path).replace(/^\//, '')}${search}`, withSlash(this.target.base));
    return { options: { ...common, protocol: url.protocol, hostname: url.hostname, port: url.port, path: `${url.pathname}${url.search}` }, url };
  }

  private authHeaders(): Record<string, string> {
    return this.target.kind === 'url' && this.target.token ? { authorization: `Bearer ${this.target.token}` } : {};
  }

  private failure(error: unknown, method: string, path: string): Error {
    if (error instanceof MicrovmError) return error;
    const e = error as NodeJS.ErrnoException;
    if (e.name === 'AbortError') return e;
    if (e.code && UNREACHABLE.has(e.code)) {
      const why = e.code === 'ENOENT' ? 'the socket does not exist' : e.code === 'ECONNREFUSED' ? 'connection refused' : e.code;
      return new MicrovmError('daemon_unreachable', `no daemon answers at ${this.description} (${why}) for ${method} ${apiPath(path)}; is the daemon running?`, { cause: error });
    }
    return new MicrovmError('daemon_unreachable', `${method} ${apiPath(path)} at ${this.description} failed: ${e.message}`, { cause: error });
  }
}

/** Paths are relative to /api/v1 unless they already name the API root or /metrics. */
export function apiPath(path: string): string {
  const absolute = path.startsWith('/') ? path : `/${path}`;
  return absolute.startsWith('/api/') || absolute === '/metrics' ? absolute : `${API_PREFIX}${absolute}`;
}

function resolveTarget(options: ClientOptions): Target {
  if (options.socketPath) return { kind: 'unix', socketPath: options.socketPath };
  const url = options.url ?? process.env.MICROVM_URL;
  if (url) {
    let base: URL;
    try {
      base = new URL(url);
    } catch {
      throw new MicrovmError('invalid_argument', `url: "${url}" is not a URL (expected e.g. http://127.0.0.1:7070)`);
    }
    if (base.protocol !== 'http:' && base.protocol !== 'https:') throw new MicrovmError('invalid_argument', `url: "${url}" must be http:// or https://`);
    return { kind: 'url', base, token: options.token ?? process.env.MICROVM_TOKEN };
  }
  return { kind: 'unix', socketPath: daemonPaths().socket };
}

function withSlash(base: URL): URL {
  return base.pathname.endsWith('/') ? base : new URL(`${base.pathname}/`, base);
}

function wsBase(base: URL): URL {
  const ws = withSlash(base);
  return new URL(ws.toString().replace(/^http/, 'ws'));
}

function lowerCaseKeys(headers: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(headers).map(([key, value]) => [key.toLowerCase(), value]));
}

function headerValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

export async function readText(stream: Readable): Promise<string> {
  return (await readBytes(stream)).toString('utf8');
}

export async function readBytes(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as string));
  return Buffer.concat(chunks);
}

import { request as httpRequest, type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import type { Readable } from 'node:stream';
import { expect } from 'vitest';
import WebSocket from 'ws';
import type { TestDaemon } from '../support/daemon-harness.js';

/** How a test reaches the daemon: the token-free Unix socket, or TCP with (or without) a bearer token. */
export type Transport = 'unix' | 'tcp';

export interface CallOptions {
  via?: Transport;
  /** A JSON body (sets content-type), raw bytes, or a stream piped as the body. */
  json?: unknown;
  body?: Buffer | string | Readable;
  headers?: Record<string, string>;
  /** Over TCP: the token to present; null sends none. Defaults to the daemon's token. */
  token?: string | null;
}

export interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
  text: string;
  json<T = Record<string, unknown>>(): T;
}

/** The request options of node:http for one call, over the chosen transport. */
function target(daemon: TestDaemon, method: string, path: string, options: CallOptions) {
  const headers: Record<string, string> = { ...options.headers };
  if (options.json !== undefined) headers['content-type'] = 'application/json';
  if ((options.via ?? 'unix') === 'unix') return { socketPath: daemon.socketPath, path, method, headers };
  if (!daemon.url) throw new Error('this daemon has no TCP listener');
  const token = options.token === undefined ? daemon.token : options.token;
  if (token !== null) headers.authorization = `Bearer ${token}`;
  const url = new URL(daemon.url);
  return { host: url.hostname, port: Number(url.port), path, method, headers };
}

/** Sends one request and hands back the response as a stream (for downloads, SSE, follow). */
export function open(daemon: TestDaemon, method: string, path: string, options: CallOptions = {}): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(target(daemon, method, path, options), resolve);
    req.on('error', reject);
    const { json, body } = options;
    if (json !== undefined) req.end(JSON.stringify(json));
    else if (body === undefined || typeof body === 'string' || Buffer.isBuffer(body)) req.end(body);
    else body.pipe(req);
  });
}

/** Sends one request and reads the whole answer. */
export async function call(daemon: TestDaemon, method: string, path: string, options: CallOptions = {}): Promise<Answer> {
  const response = await open(daemon, method, path, options);
  const chunks: Buffer[] = [];
  for await (const chunk of response) chunks.push(chunk as Buffer);
  const body = Buffer.concat(chunks);
  const text = body.toString('utf8');
  return { status: response.statusCode ?? 0, headers: response.headers, body, text, json: <T>() => JSON.parse(text) as T };
}

/** A call that must succeed with `status`; the problem+json of a failure is in the error. */
export async function ok<T = Record<string, unknown>>(daemon: TestDaemon, method: string, path: string, options: CallOptions & { status?: number } = {}): Promise<T> {
  const answer = await call(daemon, method, path, options);
  const expected = options.status ?? 200;
  if (answer.status !== expected) throw new Error(`${method} ${path}: expected ${expected}, got ${answer.status}: ${answer.text}`);
  return (answer.body.length ? answer.json<T>() : undefined) as T;
}

export const V1 = '/api/v1';

export interface SandboxView {
  id: string;
  name: string;
  state: string;
  memoryMiB: number;
  vcpus: number;
  labels: Record<string, string>;
}

export function createSandbox(daemon: TestDaemon, body: Record<string, unknown>): Promise<SandboxView> {
  return ok<SandboxView>(daemon, 'POST', `${V1}/sandboxes`, { json: body, status: 201 });
}

export async function destroySandbox(daemon: TestDaemon, id: string): Promise<void> {
  await ok(daemon, 'DELETE', `${V1}/sandboxes/${id}`, { status: 204 });
}

/** Opens a WebSocket to the daemon (Unix socket or TCP with the token). */
export function openWebSocket(daemon: TestDaemon, path: string, via: Transport = 'unix'): WebSocket {
  if (via === 'unix') return new WebSocket(`ws+unix://${daemon.socketPath}:${path}`);
  return new WebSocket(`${daemon.url!.replace(/^http/, 'ws')}${path}`, { headers: { authorization: `Bearer ${daemon.token}` } });
}

/** Resolves once a WebSocket is open; rejects with the HTTP status and body of a refused upgrade. */
export function opened(socket: WebSocket): Promise<void> {
  return new Promise((resolve, reject) => {
    socket.once('open', () => resolve());
    socket.once('error', reject);
    socket.once('unexpected-response', (_req, response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => {
        const error = Object.assign(new Error(`upgrade refused with ${response.statusCode}`), {
          status: response.statusCode,
          contentType: response.headers['content-type'],
          body: Buffer.concat(chunks).toString(),
        });
        reject(error);
      });
    });
  });
}

/** Reads Server-Sent Events from a response, one parsed {event,data} at a time. */
export async function* serverSentEvents(response: IncomingMessage): AsyncGenerator<{ event: string; data: string }> {
  let buffered = '';
  for await (const chunk of response) {
    buffered += (chunk as Buffer).toString();
    let end: number;
    while ((end = buffered.indexOf('\n\n')) >= 0) {
      const block = buffered.slice(0, end);
      buffered = buffered.slice(end + 2);
      let event = 'message';
      const data: string[] = [];
      for (const line of block.split('\n')) {
        if (line.startsWith('event: ')) event = line.slice('event: '.length);
        else if (line.startsWith('data: ')) data.push(line.slice('data: '.length));
      }
      if (data.length) yield { event, data: data.join('\n') };
    }
  }
}

export interface ProblemBody {
  type: string;
  title: string;
  status: number;
  detail: string;
  code: string;
  requestId: string;
  details?: Record<string, unknown>;
}

/** Asserts an answer is problem+json with every field of the contract, of this status and code. */
export function expectProblem(answer: Answer, status: number, code: string): ProblemBody {
  expect(answer.headers['content-type']).toMatch(/^application\/problem\+json/);
  const body = answer.json<ProblemBody>();
  expect(body).toMatchObject({ status, code, type: expect.stringMatching(new RegExp(`/${code}$`)), title: expect.any(String), detail: expect.any(String) });
  expect(answer.status).toBe(status);
  expect(body.requestId).toBe(answer.headers['x-request-id']);
  return body;
}

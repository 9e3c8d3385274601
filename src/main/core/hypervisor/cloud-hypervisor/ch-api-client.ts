import { connect, type Socket } from 'node:net';
import { SandboxError } from '../../errors/sandbox-error.js';
import type { ChVmConfig } from './ch-vm-config.js';

/**
 * The PUT endpoints the driver calls that take no body. CH answers 400 to any body on
 * these (and on shutdown, reboot, delete, nmi, vmm.shutdown), even `{}`, so the type
 * keeps callers from passing one.
 */
export type ChAction = 'vm.boot' | 'vm.pause' | 'vm.resume' | 'vm.power-button';

export interface ChPing {
  build_version?: string;
  version: string;
  pid?: number;
  features?: string[];
}

export type ChVmState = 'Created' | 'Running' | 'Shutdown' | 'Paused' | 'BreakPoint';

export interface ChVmInfo {
  config: unknown;
  state: ChVmState;
  memory_actual_size?: number;
}

export interface ChApiClientOptions {
  /**
   * Per request. CH serves one request at a time and a slow one (boot, snapshot) blocks
   * even ping, so this is generous.
   */
  timeoutMs?: number;
}

/**
 * Error codes this client reports (SandboxError.code):
 * - `invalid_argument`  400: malformed JSON, missing field, body where none is allowed,
 *                       and (CH after v53) a config that fails validation;
 * - `not_found`         404: no VM created yet (v53+), unknown endpoint or device;
 * - `already_exists`    409: duplicate device id or path (after v53);
 * - `invalid_state`     500 whose error chain says the VM is in the wrong state for the
 *                       action (CH never sends the 405 its OpenAPI file lists);
 * - `hypervisor_busy`   429, and 503 "Too many open connections";
 * - `hypervisor_error`  any other failure, including the socket not answering.
 * `details` carries the HTTP status and CH's error chain.
 */
export type ChErrorCode =
  | 'invalid_argument'
  | 'not_found'
  | 'already_exists'
  | 'invalid_state'
  | 'hypervisor_busy'
  | 'hypervisor_error';

interface ChResponse {
  status: number;
  body: Buffer;
}

const DEFAULT_TIMEOUT_MS = 60_000;
const API_ROOT = '/api/v1/';

/**
 * Cloud Hypervisor's REST API over its Unix socket. CH's server (micro-http) reads a
 * body only when Content-Length says so and never decodes chunked encoding, so requests
 * are written by hand with exact framing rather than through node:http. Calls are queued:
 * CH handles one request at a time anyway, and its server accepts only ten connections.
 */
export class ChApiClient {
  private queue: Promise<unknown> = Promise.resolve();
  private readonly timeoutMs: number;

  constructor(
    readonly socketPath: string,
    options: ChApiClientOptions = {},
  ) {
    this.timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  }

  async ping(): Promise<ChPing> {
    return this.json<ChPing>(await this.call('GET', 'vmm.ping'));
  }

  async info(): Promise<ChVmInfo> {
    return this.json<ChVmInfo>(await this.call('GET', 'vm.info'));
  }

  async createVm(config: ChVmConfig): Promise<void> {
    await this.call('PUT', 'vm.create', JSON.stringify(config));
  }

  async action(name: ChAction): Promise<void> {
    await this.call('PUT', name);
  }

  /** Writes config.json, state.json and memory-ranges into an existing empty directory; the VM must be paused. */
  async snapshot(directory: string): Promise<void> {
    await this.call('PUT', 'vm.snapshot', JSON.stringify({ destination_url: `file://${directory}` }));
  }

  /** Loads a snapshot into a VMM that has no VM yet; the VM comes back paused. */
  async restore(directory: string): Promise<void> {
    await this.call('PUT', 'vm.restore', JSON.stringify({ source_url: `file://${directory}`, prefault: false }));
  }

  private call(method: 'GET' | 'PUT', endpoint: string, body?: string): Promise<ChResponse> {
    const result = this.queue.then(() => this.send(method, endpoint, body));
    this.queue = result.catch(() => undefined);
    return result;
  }

  private async send(method: 'GET' | 'PUT', endpoint: string, body?: string): Promise<ChResponse> {
    const what = `${method} ${endpoint}`;
    const request = encodeRequest(method, endpoint, body);
    let response: ChResponse;
    try {
      response = await exchange(this.socketPath, request, this.timeoutMs);
    } catch (error) {
      throw new SandboxError('hypervisor_error', `Cloud Hypervisor API ${what} on ${this.socketPath} failed: ${(error as Error).message}`);
    }
    if (response.status === 200 || response.status === 204) return response;
    throw chError(what, response);
  }

  private json<T>(response: ChResponse): T {
    try {
      return JSON.parse(response.body.toString('utf8')) as T;
    } catch {
      throw new SandboxError('hypervisor_error', `Cloud Hypervisor answered with invalid JSON: ${response.body.toString('utf8').slice(0, 200)}`);
    }
  }
}

/** The exact request bytes: the headers ch-remote sends, plus Content-Length for a body. */
function encodeRequest(method: 'GET' | 'PUT', endpoint: string, body?: string): Buffer {
  const lines = [`${method} ${API_ROOT}${endpoint} HTTP/1.1`, 'Host: localhost', 'Accept: */*'];
  const payload = body === undefined ? Buffer.alloc(0) : Buffer.from(body, 'utf8');
  if (body !== undefined) lines.push('Content-Type: application/json', `Content-Length: ${payload.length}`);
  return Buffer.concat([Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1'), payload]);
}

/**
 * CH's error chain, outermost first. v47+ sends a JSON array of strings; earlier
 * releases a plain-text message; the canned 503 a `{"error": …}` object; some 400s no
 * body at all.
 */
export function parseErrorChain(body: Buffer): string[] {
  const text = body.toString('utf8').trim();
  if (text === '') return [];
  try {
    const parsed: unknown = JSON.parse(text);
    if (Array.isArray(parsed) && parsed.every((item) => typeof item === 'string')) return parsed;
    if (parsed !== null && typeof parsed === 'object' && typeof (parsed as { error?: unknown }).error === 'string') {
      return [(parsed as { error: string }).error];
    }
  } catch {
    // Not JSON: a pre-v47 plain-text message.
  }
  return [text];
}

// Wrong-state failures are 500s like any other; only the chain's wording tells them apart.
const WRONG_STATE = [/InvalidStateTransition/, /VM is not running/, /VM is already created/, /VM is not booted/, /VM is not created/];

function chError(what: string, response: ChResponse): SandboxError {
  const chain = parseErrorChain(response.body);
  const code = errorCode(response.status, chain);
  const reason = chain.length > 0 ? chain.join(': ') : 'no error message';
  return new SandboxError(code, `Cloud Hypervisor refused ${what} (HTTP ${response.status}): ${reason}`, {
    status: response.status,
    chain,
  });
}

function errorCode(status: number, chain: string[]): ChErrorCode {
  switch (status) {
    case 400:
      return 'invalid_argument';
    case 404:
      return 'not_found';
    case 409:
      return 'already_exists';
    case 429:
    case 503:
      return 'hypervisor_busy';
    default:
      return chain.some((message) => WRONG_STATE.some((pattern) => pattern.test(message))) ? 'invalid_state' : 'hypervisor_error';
  }
}

/** One request on its own connection, closed once the response is complete. */
function exchange(socketPath: string, request: Buffer, timeoutMs: number): Promise<ChResponse> {
  return new Promise((resolve, reject) => {
    const socket: Socket = connect(socketPath);
    let received = Buffer.alloc(0);
    let settled = false;
    const finish = (outcome: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      outcome();
    };
    const timer = setTimeout(() => finish(() => reject(new Error(`no response within ${timeoutMs} ms`))), timeoutMs);
    socket.once('connect', () => socket.write(request));
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      let response: ChResponse | null;
      try {
        response = parseResponse(received, false);
      } catch (error) {
        finish(() => reject(error as Error));
        return;
      }
      if (response) finish(() => resolve(response));
    });
    socket.on('end', () => {
      try {
        const response = parseResponse(received, true);
        finish(() => (response ? resolve(response) : reject(new Error('the connection closed before a response'))));
      } catch (error) {
        finish(() => reject(error as Error));
      }
    });
    socket.on('error', (error) => finish(() => reject(error)));
    socket.on('close', () => finish(() => reject(new Error('the connection closed before a response'))));
  });
}

/**
 * A complete response from the bytes so far, or null when more are needed. CH's status
 * line has no reason phrase, 204s carry no Content-Length, and a response without one
 * (other than 204) ends with the connection.
 */
function parseResponse(bytes: Buffer, ended: boolean): ChResponse | null {
  const headerEnd = bytes.indexOf('\r\n\r\n');
  if (headerEnd < 0) {
    if (ended) throw new Error('the connection closed inside the response headers');
    return null;
  }
  const [statusLine = '', ...headerLines] = bytes.subarray(0, headerEnd).toString('latin1').split('\r\n');
  const match = /^HTTP\/1\.[01] (\d{3})(?: .*)?$/.exec(statusLine);
  if (!match) throw new Error(`not an HTTP response: ${JSON.stringify(statusLine.slice(0, 80))}`);
  const status = Number(match[1]);
  const headers = new Map<string, string>();
  for (const line of headerLines) {
    const colon = line.indexOf(':');
    if (colon > 0) headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
  }
  const bodyStart = headerEnd + 4;
  const lengthHeader = headers.get('content-length');
  if (lengthHeader === undefined) {
    if (status === 204) return { status, body: Buffer.alloc(0) };
    return ended ? { status, body: bytes.subarray(bodyStart) } : null;
  }
  const length = Number(lengthHeader);
  if (!Number.isInteger(length) || length < 0) throw new Error(`bad Content-Length ${JSON.stringify(lengthHeader)}`);
  if (bytes.length - bodyStart < length) {
    if (ended) throw new Error('the connection closed inside the response body');
    return null;
  }
  return { status, body: bytes.subarray(bodyStart, bodyStart + length) };
}

import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ChApiClient, parseErrorChain } from '../../../src/main/core/hypervisor/cloud-hypervisor/ch-api-client.js';
import type { SandboxError } from '../../../src/main/core/errors/sandbox-error.js';

// CH's (micro-http's) exact response bytes.
const NO_CONTENT = 'HTTP/1.1 204 \r\nServer: Cloud Hypervisor API\r\nConnection: keep-alive\r\n\r\n';
const json = (status: number, body: string) =>
  `HTTP/1.1 ${status} \r\nServer: Cloud Hypervisor API\r\nConnection: keep-alive\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;

interface Exchange {
  request: string;
  respond: (bytes: string) => void;
  /** Writes these bytes and closes the connection. */
  hangUp: (bytes: string) => void;
}

/** A Unix socket server that records every request's raw bytes and lets the test answer. */
class FakeCh {
  readonly exchanges: Exchange[] = [];
  readonly events: string[] = [];
  private waiters: Array<() => void> = [];

  constructor(private readonly server: Server) {}

  static async start(path: string): Promise<FakeCh> {
    let fake: FakeCh | null = null;
    const server = createServer((socket: Socket) => fake?.accept(socket));
    fake = new FakeCh(server);
    await new Promise<void>((resolve) => server.listen(path, resolve));
    return fake;
  }

  /** Resolves with the n-th (0-based) complete request. */
  async request(n: number): Promise<Exchange> {
    while (this.exchanges.length <= n) await new Promise<void>((resolve) => this.waiters.push(resolve));
    return this.exchanges[n]!;
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  private accept(socket: Socket): void {
    let bytes = '';
    socket.on('data', (chunk: Buffer) => {
      bytes += chunk.toString('latin1');
      const headerEnd = bytes.indexOf('\r\n\r\n');
      if (headerEnd < 0) return;
      const length = Number(/\r\ncontent-length: (\d+)/i.exec(bytes.slice(0, headerEnd))?.[1] ?? 0);
      if (bytes.length < headerEnd + 4 + length) return;
      const request = bytes;
      bytes = '';
      const n = this.exchanges.length;
      this.events.push(`request ${n}`);
      this.exchanges.push({
        request,
        respond: (response) => {
          this.events.push(`response ${n}`);
          socket.write(response, 'latin1');
        },
        hangUp: (partial) => socket.end(partial, 'latin1'),
      });
      for (const wake of this.waiters.splice(0)) wake();
    });
  }
}

let dir: string;
let fake: FakeCh;
let client: ChApiClient;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ch-api-test-'));
  fake = await FakeCh.start(join(dir, 'api.sock'));
  client = new ChApiClient(join(dir, 'api.sock'), { timeoutMs: 5_000 });
});

afterEach(async () => {
  await fake.close();
  await rm(dir, { recursive: true, force: true });
});

describe('ChApiClient requests', () => {
  it('sends action PUTs with no body and no Content-Length, and accepts a bare 204', async () => {
    const done = client.action('vm.pause');
    const exchange = await fake.request(0);
    expect(exchange.request).toBe('PUT /api/v1/vm.pause HTTP/1.1\r\nHost: localhost\r\nAccept: */*\r\n\r\n');
    exchange.respond(NO_CONTENT);
    await expect(done).resolves.toBeUndefined();
  });

  it('sends vm.create with a Content-Length body, never chunked', async () => {
    const config = {
      payload: { kernel: '/k', initramfs: '/i', cmdline: 'console=ttyS0 é' },
      cpus: { boot_vcpus: 1, max_vcpus: 1 },
      memory: { size: 1 << 28 },
      serial: { mode: 'File' as const, file: '/s' },
      console: { mode: 'Off' as const },
      vsock: { cid: 3, socket: '/v' },
      rng: { src: '/dev/urandom' },
    };
    const done = client.createVm(config);
    const exchange = await fake.request(0);
    const [head = '', body = ''] = exchange.request.split('\r\n\r\n');
    const bodyBytes = Buffer.from(body, 'latin1');
    expect(head.split('\r\n')[0]).toBe('PUT /api/v1/vm.create HTTP/1.1');
    expect(head).toContain(`\r\nContent-Length: ${bodyBytes.length}`);
    expect(head.toLowerCase()).not.toContain('transfer-encoding');
    expect(JSON.parse(bodyBytes.toString('utf8'))).toEqual(config);
    exchange.respond(NO_CONTENT);
    await done;
  });

  it('sends GETs without a body and parses the JSON answer', async () => {
    const ping = client.ping();
    const exchange = await fake.request(0);
    expect(exchange.request).toBe('GET /api/v1/vmm.ping HTTP/1.1\r\nHost: localhost\r\nAccept: */*\r\n\r\n');
    exchange.respond(json(200, '{"build_version":"v53.0","version":"53.0.0","pid":42,"features":["kvm"]}'));
    await expect(ping).resolves.toEqual({ build_version: 'v53.0', version: '53.0.0', pid: 42, features: ['kvm'] });
  });

  it('sends one request at a time, the next only after the previous answer', async () => {
    const first = client.action('vm.pause');
    const second = client.info();
    const exchange = await fake.request(0);
    // Give the client every chance to send the second request early.
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(fake.exchanges).toHaveLength(1);
    exchange.respond(NO_CONTENT);
    (await fake.request(1)).respond(json(200, '{"config":{},"state":"Paused"}'));
    await first;
    await expect(second).resolves.toMatchObject({ state: 'Paused' });
    expect(fake.events).toEqual(['request 0', 'response 0', 'request 1', 'response 1']);
  });

  it('keeps serving the queue after a failed call', async () => {
    const failing = client.action('vm.resume').catch((error: unknown) => error);
    const next = client.action('vm.pause');
    (await fake.request(0)).respond(json(500, '["Error from API","The VM could not resume","VM is not running"]'));
    (await fake.request(1)).respond(NO_CONTENT);
    expect(await failing).toMatchObject({ code: 'invalid_state' });
    await expect(next).resolves.toBeUndefined();
  });
});

describe('ChApiClient errors', () => {
  async function failureFor(response: string): Promise<SandboxError> {
    const done = client.action('vm.pause');
    (await fake.request(0)).respond(response);
    return done.then(
      () => {
        throw new Error('expected the call to fail');
      },
      (error: SandboxError) => error,
    );
  }

  it('turns a wrong-state 500 into invalid_state with the whole chain in the message', async () => {
    const chain = ['Error from API', 'The VM could not be paused', 'Cannot pause VM', 'Failed to pause migratable component', 'Invalid transition: InvalidStateTransition(Paused, Paused)'];
    const error = await failureFor(json(500, JSON.stringify(chain)));
    expect(error.code).toBe('invalid_state');
    expect(error.message).toContain(chain.join(': '));
    expect(error.message).toContain('PUT vm.pause');
    expect(error.details).toEqual({ status: 500, chain });
  });

  it.each([
    [json(404, '["Error from API","The VM could not boot","VM config is missing"]'), 'not_found', 'VM config is missing'],
    [json(400, '["Bad Request"]'), 'invalid_argument', 'Bad Request'],
    [json(409, '["Error from API","The device could not be added to the VM","Identifier _disk0 is not unique"]'), 'already_exists', 'not unique'],
    [json(500, '["Error from API","The VM could not boot","Cannot open kernel"]'), 'hypervisor_error', 'Cannot open kernel'],
    ['HTTP/1.1 400 \r\nServer: Cloud Hypervisor API\r\nConnection: keep-alive\r\nContent-Type: application/json\r\nContent-Length: 0\r\n\r\n', 'invalid_argument', 'no error message'],
    ['HTTP/1.1 503\r\nServer: Firecracker API\r\nConnection: close\r\nContent-Length: 40\r\n\r\n{ "error": "Too many open connections" }', 'hypervisor_busy', 'Too many open connections'],
  ])('maps error response %# to its code', async (response, code, text) => {
    const error = await failureFor(response);
    expect(error.code).toBe(code);
    expect(error.message).toContain(text);
  });

  it('reports a socket nobody listens on as hypervisor_error', async () => {
    const nowhere = new ChApiClient(join(dir, 'missing.sock'));
    await expect(nowhere.ping()).rejects.toMatchObject({ code: 'hypervisor_error', message: expect.stringContaining('missing.sock') });
  });

  it('reports a connection closed in the middle of the answer', async () => {
    const done = client.info();
    (await fake.request(0)).hangUp('HTTP/1.1 200 \r\nServer: Cloud Hypervisor API\r\nContent-Length: 50\r\n\r\n{"state":');
    await expect(done).rejects.toMatchObject({ code: 'hypervisor_error', message: expect.stringContaining('closed inside the response body') });
  });

  it('reports no answer within the timeout', async () => {
    const short = new ChApiClient(join(dir, 'api.sock'), { timeoutMs: 200 });
    const done = short.action('vm.boot');
    await fake.request(0);
    await expect(done).rejects.toMatchObject({ code: 'hypervisor_error', message: expect.stringContaining('no response within 200 ms') });
  });
});

describe('parseErrorChain', () => {
  it('reads v47+ arrays, pre-v47 plain text, the canned 503 object and empty bodies', () => {
    expect(parseErrorChain(Buffer.from('["Error from API","VM is not running"]'))).toEqual(['Error from API', 'VM is not running']);
    expect(parseErrorChain(Buffer.from('Error from API: VmNotRunning'))).toEqual(['Error from API: VmNotRunning']);
    expect(parseErrorChain(Buffer.from('{ "error": "Too many open connections" }'))).toEqual(['Too many open connections']);
    expect(parseErrorChain(Buffer.alloc(0))).toEqual([]);
  });
});

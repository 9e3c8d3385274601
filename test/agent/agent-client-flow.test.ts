import { PassThrough, type Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { AgentClient } from '../../src/main/core/agent/agent-client.js';
import { FrameType, PREAMBLE, decodeHeader, encodeFrame, encodeJson, encodeWindow, type Frame } from '../../src/main/core/agent/agent-frames.js';
import { SandboxError } from '../../src/main/core/errors/sandbox-error.js';

const WINDOW = 262144;

/** Just enough of an agent, in process, to watch exactly which frames the client sends. */
class FakeAgent {
  readonly toAgent = new PassThrough();
  readonly toClient = new PassThrough();
  readonly frames: Frame[] = [];
  readonly nonces: string[] = [];
  private buffer = Buffer.alloc(0);
  private waiters: Array<() => void> = [];

  constructor(private readonly answerGreeting: (attempt: number) => boolean = () => true) {
    this.toAgent.on('data', (chunk: Buffer) => this.receive(chunk));
  }

  get transport() {
    return { readable: this.toClient, writable: this.toAgent };
  }

  send(frame: Buffer): void {
    this.toClient.write(frame);
  }

  hello(nonce: string): void {
    this.send(Buffer.concat([PREAMBLE, encodeJson(FrameType.HELLO, 0, { version: 1, agent: 'fake', nonce, window: WINDOW, maxFrame: 1048576, maxData: 65536, ops: [] })]));
  }

  ofType(type: number): Frame[] {
    return this.frames.filter((f) => f.type === type);
  }

  dataBytes(stream: number): number {
    return this.ofType(FrameType.DATA).filter((f) => f.stream === stream).reduce((n, f) => n + f.payload.length, 0);
  }

  credit(stream: number): number {
    return this.ofType(FrameType.WINDOW).filter((f) => f.stream === stream).reduce((n, f) => n + f.payload.readUInt32BE(0), 0);
  }

  /** Resolves once `predicate` holds for the frames received so far. */
  async until(predicate: () => boolean): Promise<void> {
    while (!predicate()) await new Promise<void>((resolve) => this.waiters.push(resolve));
  }

  private receive(chunk: Buffer): void {
    this.buffer = Buffer.concat([this.buffer, chunk]);
    for (;;) {
      if (this.buffer.subarray(0, 8).equals(PREAMBLE)) this.buffer = this.buffer.subarray(8);
      if (this.buffer.length < 12) break;
      const header = decodeHeader(this.buffer);
      if (this.buffer.length < 12 + header.length) break;
      const frame = { type: header.type, channel: header.channel, stream: header.stream, payload: this.buffer.subarray(12, 12 + header.length) };
      this.buffer = this.buffer.subarray(12 + header.length);
      this.frames.push(frame);
      if (frame.type === FrameType.HELLO) {
        const { nonce } = JSON.parse(frame.payload.toString()) as { nonce: string };
        this.nonces.push(nonce);
        if (this.answerGreeting(this.nonces.length)) this.hello(nonce);
      }
    }
    for (const wake of this.waiters.splice(0)) wake();
  }
}

async function connected(agent = new FakeAgent()): Promise<{ agent: FakeAgent; client: AgentClient }> {
  const client = await AgentClient.connect(agent.transport, { deadlineMs: 5000 });
  return { agent, client };
}

function openedStream(agent: FakeAgent, op: string): number {
  const open = agent.ofType(FrameType.OPEN).find((f) => JSON.parse(f.payload.toString()).op === op);
  if (!open) throw new Error(`no OPEN for ${op}`);
  return open.stream;
}

describe('AgentClient handshake', () => {
  it('greets again with a new nonce when the first greeting goes unanswered, ignoring stale replies', async () => {
    const agent = new FakeAgent((attempt) => attempt >= 2);
    const connecting = AgentClient.connect(agent.transport, { deadlineMs: 5000 });
    await agent.until(() => agent.nonces.length >= 2);
    // A late reply to the first attempt must not be taken for the session's HELLO.
    agent.hello(agent.nonces[0]!);
    const client = await connecting;
    expect(agent.nonces[0]).not.toBe(agent.nonces[1]);
    expect(client.agent.nonce).toBe(agent.nonces[1]);
    client.close();
  });

  it('keeps the session when the signal given to connect fires after connecting', async () => {
    const agent = new FakeAgent();
    const controller = new AbortController();
    const client = await AgentClient.connect(agent.transport, { deadlineMs: 5000, signal: controller.signal });
    controller.abort();
    const info = client.info();
    await agent.until(() => agent.ofType(FrameType.OPEN).length === 1);
    agent.send(encodeJson(FrameType.END, agent.ofType(FrameType.OPEN)[0]!.stream, { ok: true, result: { mode: 'host' } }));
    await expect(info).resolves.toEqual({ mode: 'host' });
    client.close();
  });

  it('gives up at the deadline with agent_unreachable', async () => {
    const agent = new FakeAgent(() => false);
    await expect(AgentClient.connect(agent.transport, { deadlineMs: 300 })).rejects.toMatchObject({ code: 'agent_unreachable' });
  });

  it('rejects an agent speaking another protocol version', async () => {
    const agent = new FakeAgent(() => false);
    const connecting = AgentClient.connect(agent.transport, { deadlineMs: 5000 });
    await agent.until(() => agent.nonces.length >= 1);
    agent.send(Buffer.concat([PREAMBLE, encodeJson(FrameType.HELLO, 0, { version: 2, nonce: agent.nonces[0], window: WINDOW, maxData: 65536 })]));
    await expect(connecting).rejects.toMatchObject({ code: 'agent_protocol' });
  });
});

describe('AgentClient flow control', () => {
  it('never sends file content beyond the credit the agent gave', async () => {
    const { agent, client } = await connected();
    const content = Buffer.alloc(WINDOW * 3 + 123, 1);
    const writing = client.writeFile('/f', content);
    await agent.until(() => agent.frames.some((f) => f.type === FrameType.OPEN));
    const id = openedStream(agent, 'file.write');
    await agent.until(() => agent.dataBytes(id) >= WINDOW);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(agent.dataBytes(id)).toBe(WINDOW);

    agent.send(encodeWindow(id, 0, 1000));
    await agent.until(() => agent.dataBytes(id) >= WINDOW + 1000);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(agent.dataBytes(id)).toBe(WINDOW + 1000);
    expect(agent.ofType(FrameType.DATA).every((f) => f.payload.length <= 65536)).toBe(true);

    agent.send(encodeWindow(id, 0, content.length));
    await agent.until(() => agent.ofType(FrameType.EOF).some((f) => f.stream === id));
    expect(agent.dataBytes(id)).toBe(content.length);
    agent.send(encodeJson(FrameType.END, id, { ok: true, result: { size: content.length, sha256: 'x' } }));
    await expect(writing).resolves.toEqual({ size: content.length, sha256: 'x' });
    client.close();
  });

  it('returns credit only for bytes the consumer has read', async () => {
    const { agent, client } = await connected();
    const stream = client.readFile('/big');
    await agent.until(() => agent.frames.some((f) => f.type === FrameType.OPEN));
    const id = openedStream(agent, 'file.read');
    const chunk = Buffer.alloc(65536, 2);
    for (let i = 0; i < WINDOW / chunk.length; i++) agent.send(encodeFrame({ type: FrameType.DATA, channel: 0, stream: id, payload: chunk }));
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(stream.readableLength).toBe(WINDOW);
    expect(agent.credit(id)).toBe(0);

    const first = stream.read(chunk.length) as Buffer;
    expect(first.length).toBe(chunk.length);
    await agent.until(() => agent.credit(id) > 0);
    expect(agent.credit(id)).toBe(chunk.length);

    await readAll(stream, WINDOW - chunk.length);
    await agent.until(() => agent.credit(id) === WINDOW);
    const failed = new Promise((resolve) => stream.once('error', resolve));
    client.close();
    expect(await failed).toMatchObject({ code: 'agent_unreachable' });
  });

  it('drains and credits the output of an exec whose stdout was destroyed', async () => {
    const { agent, client } = await connected();
    const proc = client.exec({ argv: ['yes'] });
    await agent.until(() => agent.frames.some((f) => f.type === FrameType.OPEN));
    const id = openedStream(agent, 'exec');
    const chunk = Buffer.alloc(1000, 3);
    agent.send(encodeFrame({ type: FrameType.DATA, channel: 0, stream: id, payload: chunk }));
    await new Promise((resolve) => setTimeout(resolve, 20));
    proc.stdout.destroy();
    agent.send(encodeFrame({ type: FrameType.DATA, channel: 0, stream: id, payload: chunk }));
    await agent.until(() => agent.credit(id) === 2 * chunk.length);
    expect(agent.ofType(FrameType.CANCEL)).toHaveLength(0);
    client.close();
  });
});

describe('AgentClient session end', () => {
  it('rejects pending calls and errors open streams when the transport ends', async () => {
    const { agent, client } = await connected();
    const info = client.info();
    const file = client.readFile('/x');
    const fileError = new Promise((resolve) => file.on('error', resolve));
    await agent.until(() => agent.ofType(FrameType.OPEN).length === 2);
    agent.toClient.end();
    await expect(info).rejects.toMatchObject({ code: 'agent_unreachable' });
    expect(await fileError).toMatchObject({ code: 'agent_unreachable' });
    expect(await client.closed).toMatchObject({ code: 'agent_unreachable' });
    await expect(client.info()).rejects.toBeInstanceOf(SandboxError);
  });

  it('surfaces a session ERROR with its code and keeps the transport for a new session', async () => {
    const { agent, client } = await connected();
    const errors: SandboxError[] = [];
    client.on('error', (error: SandboxError) => errors.push(error));
    const info = client.info();
    await agent.until(() => agent.ofType(FrameType.OPEN).length === 1);
    agent.send(encodeJson(FrameType.ERROR, 0, { code: 'flow_control', message: 'too much' }));
    await expect(info).rejects.toMatchObject({ code: 'flow_control', message: 'too much' });
    expect(await client.closed).toMatchObject({ code: 'flow_control' });
    expect(errors.map((e) => e.code)).toEqual(['flow_control']);

    const again = await AgentClient.connect(agent.transport, { deadlineMs: 5000 });
    const pending = again.info();
    await agent.until(() => agent.ofType(FrameType.OPEN).length === 2);
    const id = agent.ofType(FrameType.OPEN)[1]!.stream;
    agent.send(encodeJson(FrameType.END, id, { ok: true, result: { hostname: 'again' } }));
    await expect(pending).resolves.toMatchObject({ hostname: 'again' });
    again.close();
  });

  it('maps END errors to SandboxError with the agent code and message', async () => {
    const { agent, client } = await connected();
    const stat = client.stat('/nope');
    await agent.until(() => agent.ofType(FrameType.OPEN).length === 1);
    const id = agent.ofType(FrameType.OPEN)[0]!.stream;
    agent.send(encodeJson(FrameType.END, id, { ok: false, error: { code: 'not_found', message: 'no such file: /nope' } }));
    await expect(stat).rejects.toMatchObject({ name: 'SandboxError', code: 'not_found', message: 'no such file: /nope' });
    client.close();
  });

  it('sends CANCEL when a call is aborted', async () => {
    const { agent, client } = await connected();
    const controller = new AbortController();
    const info = client.info({ signal: controller.signal });
    await agent.until(() => agent.ofType(FrameType.OPEN).length === 1);
    controller.abort();
    await expect(info).rejects.toMatchObject({ code: 'cancelled' });
    await agent.until(() => agent.ofType(FrameType.CANCEL).length === 1);
    expect(agent.ofType(FrameType.CANCEL)[0]!.stream).toBe(agent.ofType(FrameType.OPEN)[0]!.stream);
    client.close();
  });
});

async function readAll(stream: Readable, bytes: number): Promise<void> {
  let got = 0;
  while (got < bytes) {
    const chunk = stream.read() as Buffer | null;
    if (chunk === null) await new Promise((resolve) => stream.once('readable', resolve));
    else got += chunk.length;
  }
}

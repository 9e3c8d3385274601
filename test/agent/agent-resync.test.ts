import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AgentClient } from '../../src/main/core/agent/agent-client.js';
import { FrameType } from '../../src/main/core/agent/agent-frames.js';
import { stdioTransport } from '../../src/main/core/agent/agent-transports.js';
import { startStdioAgent, type StdioAgent } from '../support/agent-on-host.js';

// Each test breaks its session on purpose, so each gets its own agent.
let agent: StdioAgent;

beforeEach(async () => {
  agent = await startStdioAgent();
});

afterEach(async () => {
  agent.client.close();
  await agent.stop();
});

function header(length: number, type: number, reserved = 0): Buffer {
  const bytes = Buffer.alloc(12);
  bytes.writeUInt32BE(length, 0);
  bytes.writeUInt8(type, 4);
  bytes.writeUInt16BE(reserved, 6);
  bytes.writeUInt32BE(1, 8);
  return bytes;
}

async function breakSessionWith(raw: Buffer): Promise<unknown> {
  const pending = agent.client.info();
  pending.catch(() => {});
  agent.child.stdin!.write(raw);
  return agent.client.closed;
}

describe('resynchronisation after framing errors', () => {
  it('answers a header claiming 2 GB with ERROR frame_too_large, then serves a new session', async () => {
    const reason = await breakSessionWith(header(0x80000000, FrameType.DATA));
    expect(reason).toMatchObject({ name: 'SandboxError', code: 'frame_too_large' });

    const again = await AgentClient.connect(stdioTransport(agent.child), { deadlineMs: 15_000 });
    await expect(again.info()).resolves.toMatchObject({ mode: 'host' });
    const run = await again.run({ shell: 'echo still here' });
    expect(run.stdout.toString()).toBe('still here\n');
    agent.client = again;
  });

  it('answers non-zero reserved bits with ERROR bad_frame, then serves a new session', async () => {
    const reason = await breakSessionWith(header(0, FrameType.PING, 0x0100));
    expect(reason).toMatchObject({ code: 'bad_frame' });
    const again = await AgentClient.connect(stdioTransport(agent.child), { deadlineMs: 15_000 });
    await expect(again.info()).resolves.toMatchObject({ mode: 'host' });
    agent.client = again;
  });

  it('answers an unknown frame type with ERROR bad_frame', async () => {
    const reason = await breakSessionWith(header(0, 0x42));
    expect(reason).toMatchObject({ code: 'bad_frame' });
  });

  it('rejects pending calls with the session error and cancels their streams', async () => {
    const proc = agent.client.exec({ argv: ['sleep', '1000'] });
    const pid = await proc.pid;
    agent.child.stdin!.write(header(0xffffffff, FrameType.DATA));
    await expect(proc.result).rejects.toMatchObject({ code: 'frame_too_large' });

    const again = await AgentClient.connect(stdioTransport(agent.child), { deadlineMs: 15_000 });
    agent.client = again;
    await expectGone(again, pid);
  });

  it('cancels the streams of a session reset by a new HELLO', async () => {
    const proc = agent.client.exec({ argv: ['sleep', '1000'] });
    const pid = await proc.pid;
    // The old client sees the agent's new preamble and HELLO mid-session and gives up.
    const again = await AgentClient.connect(stdioTransport(agent.child), { deadlineMs: 15_000 });
    agent.client = again;
    await expectGone(again, pid);
  });
});

/** Waits, inside the agent's namespace, for a process to disappear; fails at the exec's timeout. */
async function expectGone(client: AgentClient, pid: number): Promise<void> {
  const gone = await client.run({ shell: `while kill -0 ${pid} 2>/dev/null; do sleep 0.05; done; echo gone`, timeoutMs: 20_000 });
  expect(gone).toMatchObject({ timedOut: false });
  expect(gone.stdout.toString()).toBe('gone\n');
}

import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AgentClient } from '../../src/main/core/agent/agent-client.js';
import type { QemuMicrovm } from '../../src/main/core/hypervisor/qemu-microvm-launcher.js';
import { bootMinimalVm, connectUnixSocketForTest } from '../support/minimal-vm.js';

const sha256 = (data: Buffer | string) => createHash('sha256').update(data).digest('hex');

async function sha256OfStream(stream: Readable): Promise<{ hash: string; bytes: number }> {
  const hash = createHash('sha256');
  let bytes = 0;
  for await (const chunk of stream) {
    hash.update(chunk as Buffer);
    bytes += (chunk as Buffer).length;
  }
  return { hash: hash.digest('hex'), bytes };
}

describe('a real minimal microVM under QEMU', () => {
  let vm: QemuMicrovm;

  beforeAll(async () => {
    vm = await bootMinimalVm({ hostname: 'vmtest' });
  });

  afterAll(async () => {
    await vm?.stop();
  });

  it('runs as init inside the VM and reports itself', async () => {
    const info = await vm.agent.info();
    expect(info.mode).toBe('init');
    expect(info.pid).toBe(1);
    expect(info.hostname).toBe('vmtest');
    expect(info.os).toBe('linux');
    expect(info.kernel).toMatch(/cloud-amd64/);
    expect(info.bootToReadyMs).toBeGreaterThan(0);
  });

  it('runs uname -a', async () => {
    const r = await vm.agent.run({ argv: ['uname', '-a'] });
    expect(r.exitCode).toBe(0);
    expect(r.stdout.toString()).toMatch(/^Linux vmtest .*cloud-amd64/);
  });

  it('streams 100 MB of stdout with the right sha256', async () => {
    const size = 100 * 1024 * 1024;
    const line = 'microvm sandbox streaming test line 0123456789\n';
    const expected = createHash('sha256');
    let left = size;
    const block = Buffer.from(line.repeat(Math.ceil(65536 / line.length)));
    while (left > 0) {
      const n = Math.min(left, block.length);
      expected.update(block.subarray(0, n));
      left -= n;
    }
    const proc = vm.agent.exec({ shell: `yes '${line.trimEnd()}' | head -c ${size}` });
    const [out, result] = await Promise.all([sha256OfStream(proc.stdout), proc.result]);
    expect(result.exitCode).toBe(0);
    expect(out.bytes).toBe(size);
    expect(out.hash).toBe(expected.digest('hex'));
  });

  it('keeps 20 concurrent execs apart', async () => {
    const runs = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        vm.agent.run({ shell: `echo out-${i}; sleep 0.$((${i} % 3)); echo err-${i} >&2; exit ${i}` }),
      ),
    );
    runs.forEach((r, i) => {
      expect(r.stdout.toString()).toBe(`out-${i}\n`);
      expect(r.stderr.toString()).toBe(`err-${i}\n`);
      expect(r.exitCode).toBe(i);
    });
  });

  it('returns exit codes and signals exactly', async () => {
    expect((await vm.agent.run({ shell: 'exit 42' })).exitCode).toBe(42);
    expect((await vm.agent.run({ argv: ['false'] })).exitCode).toBe(1);
    const killed = await vm.agent.run({ shell: 'kill -KILL $$' });
    expect(killed.exitCode).toBeNull();
    expect(killed.signal).toBe('SIGKILL');
    const termed = await vm.agent.run({ shell: 'kill -TERM $$' });
    expect(termed.signal).toBe('SIGTERM');
  });

  it('kills a runaway process at its timeout', async () => {
    const r = await vm.agent.run({ argv: ['sleep', '1000'], timeoutMs: 1500 });
    expect(r.timedOut).toBe(true);
    expect(r.signal).toBe('SIGKILL');
    const left = await vm.agent.run({ shell: 'ps | grep -c "[s]leep 1000"' });
    expect(left.stdout.toString().trim()).toBe('0');
  });

  it('pipes stdin through sha256sum', async () => {
    const data = randomBytes(5 * 1024 * 1024);
    const r = await vm.agent.run({ argv: ['sha256sum'], stdin: true }, { stdin: data });
    expect(r.exitCode).toBe(0);
    expect(r.stdout.toString().split(' ')[0]).toBe(sha256(data));
  });

  it('gives a PTY whose size follows a resize', async () => {
    const proc = vm.agent.exec({ shell: 'read line; stty size', pty: { rows: 24, cols: 80 }, stdin: true });
    const chunks: Buffer[] = [];
    proc.stdout.on('data', (c: Buffer) => chunks.push(c));
    await proc.pid;
    await proc.resize(40, 132);
    proc.stdin?.write('go\n');
    const result = await proc.result;
    expect(result.exitCode).toBe(0);
    expect(Buffer.concat(chunks).toString()).toMatch(/40 132/);
  });

  it('writes a 50 MB file and reads it back with the same sha256', async () => {
    const data = randomBytes(50 * 1024 * 1024);
    const written = await vm.agent.writeFile('/root/big/blob.bin', Readable.from([data]), { mkdirs: true, mode: 0o600 });
    expect(written.size).toBe(data.length);
    expect(written.sha256).toBe(sha256(data));
    const stat = await vm.agent.stat('/root/big/blob.bin');
    expect(stat.size).toBe(data.length);
    expect(stat.mode & 0o777).toBe(0o600);
    const back = await sha256OfStream(vm.agent.readFile('/root/big/blob.bin'));
    expect(back.bytes).toBe(data.length);
    expect(back.hash).toBe(sha256(data));
    const inGuest = await vm.agent.run({ argv: ['sha256sum', '/root/big/blob.bin'] });
    expect(inGuest.stdout.toString().split(' ')[0]).toBe(sha256(data));
    await vm.agent.remove('/root/big', { recursive: true });
  });

  it('forwards TCP to a listener inside the guest', async () => {
    await vm.agent.run({ shell: 'setsid nc -ll -p 7000 -e cat </dev/null >/dev/null 2>&1 &' });
    let socket;
    for (let attempt = 0; ; attempt++) {
      try {
        socket = await vm.agent.tcpConnect(7000);
        break;
      } catch (error) {
        if (attempt > 50) throw error;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    const reply = new Promise<string>((resolve) => {
      let text = '';
      socket.on('data', (c: Buffer) => {
        text += c.toString();
        if (text.includes('\n')) resolve(text);
      });
    });
    socket.write('ping through the agent\n');
    expect(await reply).toBe('ping through the agent\n');
    socket.destroy();
    await vm.agent.run({ shell: 'killall nc' });
  });

  it('serves the protocol over AF_VSOCK (vsock_loopback inside the guest)', async () => {
    const bridge = vm.agent.exec({ argv: ['microvm-agent', 'connect', 'vsock:1:1024'], stdin: true });
    if (!bridge.stdin) throw new Error('bridge has no stdin');
    let bridgeErrors = '';
    bridge.stderr.on('data', (c: Buffer) => (bridgeErrors += c.toString()));
    const nested = await AgentClient.connect({ readable: bridge.stdout, writable: bridge.stdin }, { deadlineMs: 20_000 }).catch(
      (error: Error) => {
        throw new Error(`${error.message}; the vsock bridge said: ${bridgeErrors}`);
      },
    );
    const info = await nested.info();
    expect(info.mode).toBe('init');
    const r = await nested.run({ shell: 'echo via vsock' });
    expect(r.stdout.toString()).toBe('via vsock\n');
    nested.close();
    bridge.stdin.end();
    await bridge.result;
  });

  it('survives the host reconnecting on the virtio-serial port, even mid-frame', async () => {
    const sleeper = vm.agent.exec({ shell: 'echo $$; exec sleep 1000' });
    const pid = Number((await new Promise<Buffer>((resolve) => sleeper.stdout.once('data', resolve))).toString().trim());
    sleeper.result.catch(() => undefined);

    // A host that died halfway through a frame leaves a partial header and payload behind.
    await vm.reconnectAgent();
    const garbage = Buffer.alloc(12 + 5);
    garbage.writeUInt32BE(1000, 0);
    garbage.writeUInt8(2, 4);
    garbage.writeUInt32BE(77, 8);
    const raw = await connectUnixSocketForTest(vm);
    raw.write(garbage);
    await new Promise((r) => setTimeout(r, 200));
    raw.destroy();

    const agent = await vm.reconnectAgent();
    expect((await agent.run({ argv: ['echo', 'after reconnect'] })).stdout.toString()).toBe('after reconnect\n');
    const alive = await agent.run({ shell: `kill -0 ${pid} 2>/dev/null && echo alive || echo gone` });
    expect(alive.stdout.toString().trim()).toBe('gone');
  });

  it('sets the guest clock', async () => {
    const target = Date.UTC(2030, 0, 1, 12, 0, 0);
    const r = await vm.agent.setTime(target);
    expect(r.unixMs).toBe(target);
    const date = await vm.agent.run({ argv: ['date', '-u', '+%Y-%m-%d'] });
    expect(date.stdout.toString().trim()).toBe('2030-01-01');
    await vm.agent.setTime(Date.now());
  });

  it('powers off on request, ending QEMU', async () => {
    const other = await bootMinimalVm({ hostname: 'poweroff' });
    await other.agent.power('poweroff');
    await other.exited();
    await other.stop();
  });
});

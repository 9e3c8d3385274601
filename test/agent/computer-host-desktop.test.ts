import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import { once } from 'node:events';
import { createServer as createTcpServer, type AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket, WebSocketServer } from 'ws';
import { ComputerService, type ComputerSandboxes } from '../../src/main/core/computer/computer-service.js';
import { captureThumbnail, snapshotThumbnail } from '../../src/main/core/computer/snapshot-thumbnail.js';
import { relayWebSocket } from '../../src/main/core/display/display-relay.js';
import { SandboxError } from '../../src/main/core/errors/sandbox-error.js';
import { startStdioAgent, type StdioAgent } from '../support/agent-on-host.js';
import { decodePng, distinctColours } from '../support/png-pixels.js';

/**
 * Computer use against a real X desktop on the test host (Xvfb, openbox, xterm, x11vnc:
 * the desktop template's programs, from the same Debian packages), driven through the
 * guest agent run on the host. What a guest adds is only the VM around it; these tests
 * pin the tool invocations, the parsing and the VNC relay without one.
 */
const TOOLS = ['/usr/bin/Xvfb', '/usr/bin/xdotool', '/usr/bin/scrot', '/usr/bin/xterm', '/usr/bin/openbox', '/usr/bin/x11vnc'];
const missing = TOOLS.filter((tool) => !existsSync(tool));
const WIDTH = 1280;
const HEIGHT = 800;

let agent: StdioAgent;
let display: string;
const children: ChildProcess[] = [];
let computer: ComputerService;
let sandboxes: ComputerSandboxes;

function start(command: string, args: string[]): ChildProcess {
  const child = spawn(command, args, { env: { ...process.env, DISPLAY: display }, stdio: 'ignore' });
  children.push(child);
  return child;
}

async function until<T>(what: string, probe: () => Promise<T | null>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe().catch(() => null);
    if (value !== null) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

async function focusedWindowName(): Promise<string> {
  const run = await agent.client.run({ argv: ['xdotool', 'getwindowfocus', 'getwindowname'], env: { DISPLAY: display } });
  return run.stdout.toString().trim();
}

describe.skipIf(missing.length > 0)(`computer use on a host X desktop${missing.length ? ` (missing ${missing.join(', ')}: scripts/ensure-host-deps.sh --tests installs them)` : ''}`, () => {
  beforeAll(async () => {
    let n = 60;
    while (existsSync(`/tmp/.X${n}-lock`)) n++;
    display = `:${n}`;
    start('/usr/bin/Xvfb', [display, '-screen', '0', `${WIDTH}x${HEIGHT}x24`, '-nolisten', 'tcp']);
    agent = await startStdioAgent();
    await until('the X server', async () => ((await agent.client.run({ argv: ['xdotool', 'getdisplaygeometry'], env: { DISPLAY: display } })).exitCode === 0 ? true : null));
    start('/usr/bin/openbox', []);
    sandboxes = {
      get: (id) => {
        if (id !== 'desk' && id !== 'plain') throw new SandboxError('not_found', `no sandbox "${id}"`);
        return { id, name: id, template: id === 'desk' ? 'desktop' : 'minimal' };
      },
      agent: async () => agent.client,
      templates: {
        definition: (name) => ({ display: name === 'desktop' ? { width: WIDTH, height: HEIGHT, depth: 24 } : null, services: [{ name: 'xvfb', argv: ['/usr/bin/Xvfb', ':0'] }] }),
      },
    };
    computer = new ComputerService(sandboxes, { x11Display: display });
  });

  afterAll(async () => {
    // SIGTERM, so Xvfb removes its lock file and socket as it exits.
    await Promise.all(
      children.reverse().map(async (child) => {
        if (child.exitCode !== null || child.signalCode !== null) return;
        const exited = once(child, 'exit');
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
        await exited;
        clearTimeout(timer);
      }),
    );
    await agent?.stop();
    if (display) await Promise.all([rm(`/tmp/.X${display.slice(1)}-lock`, { force: true }), rm(`/tmp/.X11-unix/X${display.slice(1)}`, { force: true })]);
  });

  it('takes a screenshot: a PNG of the screen size, blank before any window and not after', async () => {
    const blank = await computer.screenshot('desk');
    expect({ width: blank.width, height: blank.height }).toEqual({ width: WIDTH, height: HEIGHT });
    expect(distinctColours(decodePng(blank.png))).toBe(1);
    start('/usr/bin/xterm', ['-title', 'first', '-geometry', '80x24+40+40']);
    await until('the first xterm', async () => ((await focusedWindowName()) === 'first' ? true : null));
    const result = await computer.perform('desk', { action: 'screenshot' });
    expect(result).toMatchObject({ action: 'screenshot', width: WIDTH, height: HEIGHT, mimeType: 'image/png' });
    const png = decodePng(Buffer.from(result.image!, 'base64'));
    expect({ width: png.width, height: png.height }).toEqual({ width: WIDTH, height: HEIGHT });
    expect(distinctColours(png)).toBeGreaterThan(1);
  });

  it('a click at an xterm focuses it, and typing there plus Return runs a command', async () => {
    const file = `/tmp/microvm-typed-${process.pid}`;
    await rm(file, { force: true });
    start('/usr/bin/xterm', ['-title', 'second', '-geometry', '60x10+700+400', '-e', '/bin/sh']);
    await until('the second xterm', async () => ((await focusedWindowName()) === 'second' ? true : null));
    // Focus the first, then click into the second: the click is what moves the focus.
    await computer.perform('desk', { action: 'left_click', x: 100, y: 100 });
    await until('focus on the first', async () => ((await focusedWindowName()) === 'first' ? true : null), 3000);
    await computer.perform('desk', { action: 'left_click', x: 800, y: 450 });
    await until('focus on the second', async () => ((await focusedWindowName()) === 'second' ? true : null), 3000);
    await computer.perform('desk', { action: 'type', text: `echo hi > ${file}` });
    await computer.perform('desk', { action: 'key', keys: ['Return'] });
    expect(await until('the typed command', async () => (existsSync(file) ? readFile(file, 'utf8') : null))).toBe('hi\n');
    await rm(file, { force: true });
  });

  it('moves the pointer and reads it back; clicks, drags and scrolls run', async () => {
    expect(await computer.perform('desk', { action: 'mouse_move', x: 321, y: 123 })).toMatchObject({ action: 'mouse_move' });
    expect(await computer.perform('desk', { action: 'cursor_position' })).toMatchObject({ x: 321, y: 123 });
    await computer.perform('desk', { action: 'drag', path: [{ x: 10, y: 700 }, { x: 50, y: 720 }, { x: 90, y: 760 }] });
    expect(await computer.perform('desk', { action: 'cursor_position' })).toMatchObject({ x: 90, y: 760 });
    await computer.perform('desk', { action: 'scroll', direction: 'down', amount: 2, x: 200, y: 200 });
    await computer.perform('desk', { action: 'double_click' });
    await computer.perform('desk', { action: 'keypress', keys: ['SHIFT', 'TAB'] });
    expect(await computer.perform('desk', { action: 'screen_size' })).toMatchObject({ width: WIDTH, height: HEIGHT });
  });

  it('refuses a key xdotool does not know, off-screen coordinates, and a sandbox without a display', async () => {
    await expect(computer.perform('desk', { action: 'key', keys: ['ctrl+bogus'] })).rejects.toMatchObject({ code: 'invalid_argument', message: expect.stringContaining('"bogus"') });
    await expect(computer.perform('desk', { action: 'left_click', x: WIDTH, y: 0 })).rejects.toMatchObject({ code: 'invalid_argument' });
    await expect(computer.perform('plain', { action: 'screenshot' })).rejects.toMatchObject({ code: 'no_display' });
    await expect(computer.screenshot('plain')).rejects.toMatchObject({ code: 'no_display' });
  });

  it('says the X server is not answering when the display is gone', async () => {
    const nowhere = new ComputerService(sandboxes, { x11Display: ':999' });
    await expect(nowhere.perform('desk', { action: 'cursor_position' })).rejects.toMatchObject({ code: 'display_unavailable' });
    await expect(nowhere.screenshot('desk')).rejects.toMatchObject({ code: 'display_unavailable' });
  });

  it('makes a thumbnail about 320 px wide for snapshots, and none without a display', async () => {
    const url = await captureThumbnail(agent.client, { width: WIDTH, x11Display: display });
    expect(url.startsWith('data:image/png;base64,')).toBe(true);
    const png = decodePng(Buffer.from(url.slice('data:image/png;base64,'.length), 'base64'));
    expect({ width: png.width, height: png.height }).toEqual({ width: 320, height: 200 });
    expect(await snapshotThumbnail(sandboxes, 'plain')).toBeNull();
    // A failing capture gives null, never an error: a snapshot does not fail over its thumbnail.
    expect(await snapshotThumbnail({ ...sandboxes, agent: async () => Promise.reject(new SandboxError('invalid_state', 'paused')) }, 'desk')).toBeNull();
  });

  it("relays the VNC server's RFB stream through the agent's TCP forward", async () => {
    const probe = createTcpServer();
    probe.listen(0, '127.0.0.1');
    await once(probe, 'listening');
    const port = (probe.address() as AddressInfo).port;
    probe.close();
    start('/usr/bin/x11vnc', ['-display', display, '-localhost', '-rfbport', String(port), '-forever', '-shared', '-nopw', '-quiet']);
    const server = new WebSocketServer({ port: 0, host: '127.0.0.1' });
    await once(server, 'listening');
    const relays: Promise<void>[] = [];
    server.on('connection', (socket) => {
      relays.push(
        (async () => {
          const tunnel = await until('x11vnc', async () => agent.client.tcpConnect(port, '127.0.0.1'));
          await relayWebSocket(socket, tunnel);
        })(),
      );
    });
    const client = new WebSocket(`ws://127.0.0.1:${(server.address() as AddressInfo).port}`);
    const [greeting] = (await once(client, 'message')) as [Buffer];
    expect(greeting.toString('latin1')).toMatch(/^RFB 003\.00[378]\n$/);
    // The client's answer goes the other way: the server then offers its security types.
    client.send(Buffer.from('RFB 003.008\n', 'latin1'));
    const [security] = (await once(client, 'message')) as [Buffer];
    expect(security[0]).toBeGreaterThan(0);
    expect([...security.subarray(1, 1 + security[0]!)]).toContain(1);
    client.close();
    await Promise.all(relays);
    server.close();
  });
});

import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { projectRoot } from '../../src/main/core/paths/app-paths.js';
import type { DisplayLink, DisplaySession } from '../../src/shared/api/display-schemas.js';
import type { ComputerResult } from '../../src/shared/api/computer-schemas.js';
import { Sandbox } from '../../src/sdk/index.js';
import { ARTIFACTS_DIR, openBrowserMode, type BrowserModeSession } from '../support/browser-harness.js';
import { startTestDaemon, type TestDaemon } from '../support/daemon-harness.js';
import { decodePng, distinctColours } from '../support/png-pixels.js';
import { byteChannel, probeFramebuffer } from '../support/rfb-probe.js';
import { ensureUiBuilt } from '../support/ui-build.js';
import { computerUseAdapterCases } from '../sdk/adapters/computer-use-adapter-cases.js';
import { call, createSandbox, destroySandbox, expectProblem, ok, opened, openWebSocket, V1, type SandboxView } from './api-http.js';

/**
 * Computer use and the VNC console against a real desktop sandbox (the desktop template:
 * Xvfb 1280×800, openbox, x11vnc; built once and cached) and a minimal one, which has no
 * display. The first run builds the desktop image (several minutes).
 */
const WIDTH = 1280;
const HEIGHT = 800;
const BIN = join(projectRoot(), 'bin', 'microvm.js');

let daemon: TestDaemon;
let plain: SandboxView;
let desk: SandboxView;
/** The same desktop sandbox through the SDK, for the computer-use adapters. */
let deskSandbox: Sandbox;

const act = (body: unknown) => call(daemon, 'POST', `${V1}/sandboxes/${desk.id}/computer`, { json: body });
const perform = (body: unknown) => ok<ComputerResult>(daemon, 'POST', `${V1}/sandboxes/${desk.id}/computer`, { json: body });
const exec = (shell: string) =>
  ok<{ exitCode: number; stdout: string; stderr: string }>(daemon, 'POST', `${V1}/sandboxes/${desk.id}/exec`, { json: { shell, env: { DISPLAY: ':0' } } });
const focusedWindow = async () => (await exec('xdotool getwindowfocus getwindowname')).stdout.trim();

async function until<T>(what: string, probe: () => Promise<T | null | undefined | false>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== null && value !== undefined && value !== false) return value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

/** Starts an xterm in the guest's session, detached from the exec that starts it. */
async function startXterm(title: string, geometry: string): Promise<void> {
  const started = await exec(`setsid -f xterm -title ${title} -geometry ${geometry} -e /bin/sh >/dev/null 2>&1 < /dev/null`);
  expect(started.exitCode).toBe(0);
  // An xterm's first start in a TCG guest takes a while (fonts): wait until it is mapped.
  await until(`xterm ${title}`, async () => (await exec(`xdotool search --onlyvisible --name '^${title}$'`)).exitCode === 0, 120_000);
}

/** A WebSocket's refused upgrade as { status, code }. */
async function refusal(socket: WebSocket): Promise<{ status: number; code: string }> {
  const error = (await opened(socket).then(
    () => {
      socket.close();
      throw new Error('the upgrade was accepted');
    },
    (failure: unknown) => failure,
  )) as { status: number; body: string };
  return { status: error.status, code: (JSON.parse(error.body) as { code: string }).code };
}

beforeAll(async () => {
  await ensureUiBuilt();
  daemon = await startTestDaemon({ tcp: true });
  plain = await createSandbox(daemon, { name: 'plain', template: 'minimal', memoryMiB: 256 });
  desk = await createSandbox(daemon, { name: 'desk', template: 'desktop' });
  // The services start after the agent is ready: wait for the X server and the VNC server.
  await until('the X server', async () => (await exec('xdotool getdisplaygeometry')).exitCode === 0, 120_000);
  // Port 5900 is 170C in /proc/net/tcp, 0A is LISTEN.
  await until('the VNC server', async () => (await exec("grep -qi ':170C 00000000:0000 0A' /proc/net/tcp")).exitCode === 0, 120_000);
  // The template opens an xterm when the session starts; the tests' own windows go over it.
  deskSandbox = await Sandbox.connect('desk', { socketPath: daemon.socketPath });
  await until('the desktop\'s xterm', async () => (await exec("xdotool search --onlyvisible --name '^xterm$'")).exitCode === 0, 120_000);
});

afterAll(async () => {
  if (!daemon) return;
  for (const sandbox of [plain, desk]) if (sandbox) await destroySandbox(daemon, sandbox.id).catch(() => undefined);
  expect(await daemon.stop()).toEqual([]);
});

describe('a sandbox without a display', () => {
  it('refuses computer use and the display with no_display, and bad actions before anything runs', async () => {
    expectProblem(await call(daemon, 'POST', `${V1}/sandboxes/${plain.id}/computer`, { json: { action: 'screenshot' } }), 409, 'no_display');
    expectProblem(await call(daemon, 'GET', `${V1}/sandboxes/${plain.id}/computer/screenshot`), 409, 'no_display');
    expectProblem(await call(daemon, 'POST', `${V1}/sandboxes/${plain.id}/display`), 409, 'no_display');
    const bad = await call(daemon, 'POST', `${V1}/sandboxes/${plain.id}/computer`, { json: { action: 'left_click', x: 'ten', y: 1 } });
    expectProblem(bad, 400, 'invalid_argument');
    expect(bad.json<{ detail: string }>().detail).toMatch(/^x: /);
  });
});

describe('computer use on the desktop template', () => {
  it('takes a screenshot: a PNG of 1280×800 that is not blank', async () => {
    await startXterm('first', '80x24+40+40');
    // Mapped is not yet painted: the first screenshots may still be the bare root window.
    const png = await until('a screenshot that is not blank', async () => {
      const answer = await call(daemon, 'GET', `${V1}/sandboxes/${desk.id}/computer/screenshot`);
      expect(answer.status).toBe(200);
      expect(answer.headers['content-type']).toBe('image/png');
      const decoded = decodePng(answer.body);
      expect({ width: decoded.width, height: decoded.height }).toEqual({ width: WIDTH, height: HEIGHT });
      return distinctColours(decoded) > 1 ? decoded : null;
    });
    expect(distinctColours(png)).toBeGreaterThan(1);
    const viaAction = await perform({ action: 'screenshot' });
    expect(viaAction).toMatchObject({ width: WIDTH, height: HEIGHT, mimeType: 'image/png' });
    expect(decodePng(Buffer.from(viaAction.image!, 'base64')).width).toBe(WIDTH);
  });

  it('a click at an xterm focuses it; typing there and Enter writes a file the file API reads back', async () => {
    await startXterm('second', '60x10+700+400');
    await perform({ action: 'left_click', x: 100, y: 100 });
    await until('focus on the first xterm', async () => (await focusedWindow()) === 'first', 10_000);
    await perform({ action: 'left_click', x: 800, y: 450 });
    await until('focus on the second xterm', async () => (await focusedWindow()) === 'second', 10_000);
    await perform({ action: 'type', text: 'echo hi > /tmp/typed' });
    await perform({ action: 'key', keys: ['Return'] });
    const content = await until('/tmp/typed', async () => {
      const answer = await call(daemon, 'GET', `${V1}/sandboxes/${desk.id}/files/content?path=/tmp/typed`);
      return answer.status === 200 ? answer.text : null;
    });
    expect(content).toBe('hi\n');
  });

  it('moves, reads the pointer, knows the screen, and checks every argument', async () => {
    await perform({ action: 'mouse_move', x: 640, y: 400 });
    expect(await perform({ action: 'cursor_position' })).toMatchObject({ x: 640, y: 400 });
    expect(await perform({ action: 'screen_size' })).toMatchObject({ width: WIDTH, height: HEIGHT });
    // Over the first xterm: the wheel on openbox's bare desktop would switch virtual desktops.
    await perform({ action: 'scroll', direction: 'down', amount: 2, x: 100, y: 100 });
    await perform({ action: 'left_click_drag', path: [{ x: 300, y: 600 }, { x: 350, y: 650 }] });
    expect(await perform({ action: 'cursor_position' })).toMatchObject({ x: 350, y: 650 });
    expectProblem(await act({ action: 'left_click', x: WIDTH, y: 0 }), 400, 'invalid_argument');
    expectProblem(await act({ action: 'key', keys: ['ctrl+nosuchkey'] }), 400, 'invalid_argument');
    expectProblem(await act({ action: 'key', keys: ['--help'] }), 400, 'invalid_argument');
    expectProblem(await act({ action: 'type', text: 'x'.repeat(5000) }), 400, 'invalid_argument');
  });

  it('works through the SDK and the CLI too', async () => {
    const sandbox = await Sandbox.connect('desk', { socketPath: daemon.socketPath });
    const shot = await sandbox.computer.screenshot();
    expect({ width: shot.width, height: shot.height }).toEqual({ width: WIDTH, height: HEIGHT });
    expect(decodePng(shot.png).height).toBe(HEIGHT);
    await sandbox.computer.move(10, 20);
    expect(await sandbox.computer.cursorPosition()).toEqual({ x: 10, y: 20 });
    const cli = await execa(process.execPath, [BIN, 'computer', 'desk', 'size'], { env: daemon.env, extendEnv: false, reject: false });
    expect(cli.stdout).toBe(`${WIDTH}x${HEIGHT}`);
    expect(cli.exitCode).toBe(0);
    const none = await execa(process.execPath, [BIN, 'computer', 'plain', 'cursor'], { env: daemon.env, extendEnv: false, reject: false });
    expect(none.exitCode).toBe(4);
    expect(none.stderr).toMatch(/has no display/);
  });

  it('through MCP: screenshot as image content, click and key, a display URL', async () => {
    const client = new Client({ name: 'computer-display-test', version: '1.0.0' });
    await client.connect(new StreamableHTTPClientTransport(new URL(`${daemon.url}/mcp`), { requestInit: { headers: { authorization: `Bearer ${daemon.token}` } } }));
    try {
      const use = async (name: string, args: Record<string, unknown>) => {
        const result = (await client.callTool({ name, arguments: { sandbox_id: 'desk', ...args } })) as CallToolResult;
        expect(result.isError, JSON.stringify(result.content)).toBeFalsy();
        return result;
      };
      const shot = await use('screenshot', {});
      const image = shot.content.find((c) => c.type === 'image') as { data: string; mimeType: string };
      expect(image.mimeType).toBe('image/png');
      expect(decodePng(Buffer.from(image.data, 'base64'))).toMatchObject({ width: WIDTH, height: HEIGHT });
      await use('click', { x: 321, y: 123 });
      expect(await perform({ action: 'cursor_position' })).toMatchObject({ x: 321, y: 123 });
      await use('move', { x: 50, y: 60 });
      expect(await perform({ action: 'cursor_position' })).toMatchObject({ x: 50, y: 60 });
      await use('key', { keys: ['shift'] });
      const link = await use('get_display_url', {});
      expect((link.structuredContent as { url: string }).url).toMatch(new RegExp(`^${daemon.url}/sandboxes/${desk.id}/display\\?link=`));
      const offScreen = (await client.callTool({ name: 'click', arguments: { sandbox_id: 'desk', x: WIDTH + 5, y: 1 } })) as CallToolResult;
      expect(offScreen.isError).toBe(true);
      expect((offScreen.content[0] as { text: string }).text).toMatch(/^\[invalid_argument\] x: /);
    } finally {
      await client.close();
    }
  });

  it('stores a small screenshot with a snapshot, for the timeline', async () => {
    const sandbox = await Sandbox.connect('desk', { socketPath: daemon.socketPath });
    const { snapshot } = await sandbox.snapshots.create({ name: 'with-thumbnail' });
    try {
      expect(snapshot.thumbnail).toMatch(/^data:image\/png;base64,/);
      const thumb = decodePng(Buffer.from(snapshot.thumbnail!.slice('data:image/png;base64,'.length), 'base64'));
      expect({ width: thumb.width, height: thumb.height }).toEqual({ width: 320, height: 200 });
      expect(distinctColours(thumb)).toBeGreaterThan(1);
      const plainShot = await (await Sandbox.connect('plain', { socketPath: daemon.socketPath })).snapshots.create({ name: 'no-display' });
      expect(plainShot.snapshot.thumbnail).toBeNull();
      await ok(daemon, 'DELETE', `${V1}/snapshots/${plainShot.snapshot.id}`, { status: 204 });
    } finally {
      await ok(daemon, 'DELETE', `${V1}/snapshots/${snapshot.id}`, { status: 204 });
    }
  });
});

computerUseAdapterCases(() => deskSandbox);

describe('the VNC WebSocket', () => {
  const wsPath = (id: string, token?: string) => `${V1}/sandboxes/${id}/display/ws${token === undefined ? '' : `?token=${token}`}`;

  it('refuses a missing, wrong or foreign token before upgrading', async () => {
    expect(await refusal(openWebSocket(daemon, wsPath(desk.id)))).toEqual({ status: 401, code: 'unauthorized' });
    expect(await refusal(openWebSocket(daemon, wsPath(desk.id, 'x'.repeat(43))))).toEqual({ status: 401, code: 'unauthorized' });
    const session = await ok<DisplaySession>(daemon, 'POST', `${V1}/sandboxes/${desk.id}/display`);
    // desk's token on plain, and on a sandbox with a display of its own would be the same: forbidden.
    expect(await refusal(openWebSocket(daemon, wsPath(plain.id, session.token)))).toEqual({ status: 403, code: 'forbidden' });
    // Over TCP with the bearer token, a page of another origin is refused too.
    const crossSite = new WebSocket(`${daemon.url!.replace(/^http/, 'ws')}${session.path}`, { headers: { authorization: `Bearer ${daemon.token}`, origin: 'http://evil.example' } });
    expect(await refusal(crossSite)).toEqual({ status: 403, code: 'forbidden' });
  });

  it("carries the guest's RFB stream, once per token", async () => {
    const session = await ok<DisplaySession>(daemon, 'POST', `${V1}/sandboxes/${desk.id}/display`);
    expect(session.url).toBeNull();
    expect({ width: session.width, height: session.height }).toEqual({ width: WIDTH, height: HEIGHT });
    const socket = openWebSocket(daemon, session.path);
    // Subscribed before the upgrade completes: the server's greeting follows at once.
    const channel = byteChannel((bytes) => socket.send(bytes), (onBytes) => socket.on('message', (data: Buffer) => onBytes(data)));
    await opened(socket);
    // The whole way: handshake, ServerInit and a full framebuffer update showing the xterms.
    const frame = await probeFramebuffer(channel);
    expect(frame).toMatchObject({ version: 'RFB 003.008', width: WIDTH, height: HEIGHT, name: 'desk:0' });
    expect(frame.colours).toBeGreaterThan(1);
    socket.close();
    expect(await refusal(openWebSocket(daemon, session.path))).toEqual({ status: 401, code: 'unauthorized' });
  });
});

describe('display links', () => {
  it('opens a browser session once, for the display page of one sandbox; a used link or one for a sandbox without a display is refused', async () => {
    expectProblem(await call(daemon, 'POST', `${V1}/sandboxes/${plain.id}/display/link`), 409, 'no_display');
    const link = await ok<DisplayLink>(daemon, 'POST', `${V1}/sandboxes/${desk.id}/display/link`);
    const url = new URL(link.url);
    expect(`${url.protocol}//${url.host}`).toBe(daemon.url);
    expect(url.pathname).toBe(`/sandboxes/${desk.id}/display`);
    expect(Date.parse(link.expiresAt) - Date.now()).toBeGreaterThan(60_000);

    const first = await fetch(url, { redirect: 'manual', headers: { accept: 'text/html' } });
    expect(first.status).toBe(303);
    expect(first.headers.get('location')).toBe(`/sandboxes/${desk.id}/display`);
    const cookie = first.headers.get('set-cookie')!;
    expect(cookie).toMatch(/^microvm_session_\d+=[^;]+;.*HttpOnly/);
    // The cookie it set works like the /?token= link's: the API answers the page.
    const withSession = await fetch(`${daemon.url}${V1}/sandboxes/${desk.id}`, { headers: { cookie: cookie.split(';')[0]! } });
    expect(withSession.status).toBe(200);

    const again = await fetch(url, { redirect: 'manual', headers: { accept: 'text/html' } });
    expect(again.status).toBe(401);
    expect(await again.text()).toContain('This display link is not valid');
    expect(again.headers.get('set-cookie')).toBeNull();
    // A link only opens the display page of its own sandbox.
    const other = await ok<DisplayLink>(daemon, 'POST', `${V1}/sandboxes/${desk.id}/display/link`);
    const elsewhere = new URL(other.url);
    elsewhere.pathname = `/sandboxes/${plain.id}/display`;
    expect((await fetch(elsewhere, { redirect: 'manual', headers: { accept: 'text/html' } })).status).toBe(401);
  });
});

describe('the Display tab in chromium', () => {
  let browser: BrowserModeSession;
  afterAll(async () => browser?.close());

  it('shows the desktop: a non-blank canvas, connected', async () => {
    browser = await openBrowserMode(daemon, 'display-tab');
    const { page } = browser;
    page.setDefaultTimeout(60_000);
    // For the failure message: what the display WebSocket carried.
    const frames = { received: 0, bytes: 0, closed: false };
    page.on('websocket', (socket) => {
      if (!socket.url().includes('/display/ws')) return;
      socket.on('framereceived', (frame) => {
        frames.received++;
        frames.bytes += typeof frame.payload === 'string' ? frame.payload.length : frame.payload.length;
      });
      socket.on('close', () => (frames.closed = true));
    });
    await page.getByRole('table', { name: 'Sandboxes' }).getByRole('button', { name: 'desk', exact: true }).click();
    await page.getByRole('tab', { name: 'Display', exact: true }).click();
    const region = page.getByRole('region', { name: 'Display' });
    await region.getByRole('status').filter({ hasText: /^Connected/ }).waitFor();
    const canvas = region.locator('canvas').first();
    await canvas.waitFor();
    await browser.screenshot('connected');
    // The framebuffer arrives after the handshake: wait until the canvas shows more than one colour.
    const colours = await until(
      'a drawn desktop',
      async () => {
        const count = await canvas.evaluate((element: HTMLCanvasElement) => {
          const context = element.getContext('2d');
          if (!context || element.width === 0) return 0;
          const { data } = context.getImageData(0, 0, element.width, element.height);
          const seen = new Set<number>();
          for (let i = 0; i < data.length && seen.size < 100; i += 4) seen.add((data[i]! << 16) | (data[i + 1]! << 8) | data[i + 2]!);
          return seen.size;
        });
        return count > 1 ? count : null;
      },
      60_000,
    ).catch(async (error: Error) => {
      await browser.screenshot('not-drawn');
      throw new Error(`${error.message}; the display WebSocket received ${frames.received} frames, ${frames.bytes} bytes${frames.closed ? ', and closed' : ''}`);
    });
    expect(colours).toBeGreaterThan(1);
    expect(await canvas.evaluate((element: HTMLCanvasElement) => [element.width, element.height])).toEqual([WIDTH, HEIGHT]);
    await browser.screenshot('desktop');
    await region.getByRole('button', { name: 'Send Ctrl+Alt+Del' }).click();
  });

  it('a display link opens the Display tab of its sandbox in a browser without a session', async () => {
    const link = await ok<DisplayLink>(daemon, 'POST', `${V1}/sandboxes/${desk.id}/display/link`);
    const context = await browser.browser.newContext({ viewport: { width: 1400, height: 900 } });
    const page = await context.newPage();
    page.setDefaultTimeout(60_000);
    await page.goto(link.url);
    expect(new URL(page.url()).pathname).toBe(`/sandboxes/${desk.id}/display`);
    const region = page.getByRole('region', { name: 'Display' });
    await region.getByRole('status').filter({ hasText: /^Connected/ }).waitFor();
    expect(await page.getByRole('tab', { name: 'Display', exact: true }).getAttribute('aria-selected')).toBe('true');
    await page.screenshot({ path: join(ARTIFACTS_DIR, 'display-tab', 'link-opened.png') });
    await context.close();
  });
});

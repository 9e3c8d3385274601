import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { buildManagerlessApiServer } from '../support/managerless-api-server.js';
import { ApiToken } from '../../src/main/api/api-token.js';
import { defaultUiDir } from '../../src/main/api/browser-ui.js';
import { buildUi } from '../../src/main/cli/ui-build.js';
import { appPaths, daemonPaths, projectRoot } from '../../src/main/core/paths/app-paths.js';
import { processesMentioning } from '../../src/main/core/sandbox/host-resources.js';
import { startTestDaemon, type TestDaemon } from '../support/daemon-harness.js';
import { call, createSandbox, destroySandbox, expectProblem, ok, opened, V1, type Answer } from './api-http.js';

let daemon: TestDaemon;
let origin: string;

beforeAll(async () => {
  if (!existsSync(join(defaultUiDir(), 'index.html'))) await buildUi();
  daemon = await startTestDaemon({ tcp: true });
  origin = daemon.url!;
});
afterAll(async () => {
  if (daemon) expect(await daemon.stop()).toEqual([]);
});

/** A request over TCP as a browser sends it: no bearer token, maybe the session cookie. */
const browser = (method: string, path: string, headers: Record<string, string> = {}, body?: unknown) =>
  call(daemon, method, path, { via: 'tcp', token: null, headers, ...(body === undefined ? {} : { json: body }) });

const HTML = { accept: 'text/html,application/xhtml+xml' };

/** Trades a token for the session cookie, as the printed link does; answers the cookie as a Cookie header value. */
async function signIn(token: string): Promise<string> {
  const answer = await browser('GET', `/?token=${encodeURIComponent(token)}`, HTML);
  expect(answer.status).toBe(303);
  const setCookie = answer.headers['set-cookie']?.[0] ?? '';
  return setCookie.split(';')[0]!;
}

const auditLines = async () =>
  (await readFile(join(daemon.dataDir, 'data', 'audit.log'), 'utf8'))
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as { requestId: string; url: string; status: number; outcome: string });

function isAppPage(answer: Answer): boolean {
  return answer.text.includes('<div id="root">') && /<script[^>]+src="\/assets\/[^"]+\.js"/.test(answer.text);
}

function webSocket(path: string, headers: Record<string, string>): WebSocket {
  return new WebSocket(`${origin.replace(/^http/, 'ws')}${path}`, { headers });
}

describe('signing in', () => {
  it('shows a browser without a session how to get one, not the app', async () => {
    const answer = await browser('GET', '/', HTML);
    expect(answer.status).toBe(200);
    expect(answer.headers['content-type']).toMatch(/^text\/html/);
    expect(answer.text).toMatch(/microvm token show/);
    expect(answer.text).not.toMatch(/<script/);
    expect(answer.headers['content-security-policy']).toMatch(/default-src 'self'/);
  });

  it('refuses a wrong token with a 401 page, recorded in the audit log without the token', async () => {
    const answer = await browser('GET', '/?token=not-the-token', HTML);
    expect(answer.status).toBe(401);
    expect(answer.text).toMatch(/not valid/);
    expect(answer.headers['set-cookie']).toBeUndefined();
    const line = (await auditLines()).find((entry) => entry.requestId === answer.headers['x-request-id']);
    expect(line).toMatchObject({ status: 401, outcome: 'denied', url: '/?token=<redacted>' });
  });

  it('trades the right token for an HttpOnly SameSite=Strict cookie and takes it out of the address bar', async () => {
    const answer = await browser('GET', `/?token=${daemon.token}`, HTML);
    expect(answer.status).toBe(303);
    expect(answer.headers.location).toBe('/');
    const cookie = answer.headers['set-cookie']?.[0] ?? '';
    expect(cookie).toMatch(/^microvm_session_\d+=[\w-]+;/);
    expect(cookie).toMatch(/; HttpOnly/);
    expect(cookie).toMatch(/; SameSite=Strict/);
    expect(cookie).toMatch(/; Path=\//);
    // The cookie is derived from the token, never the token itself.
    expect(cookie).not.toContain(daemon.token!);
  });

  it('keeps the rest of the address, but never redirects to another host', async () => {
    const deep = await browser('GET', `/sandboxes/x?tab=files&token=${daemon.token}`, HTML);
    expect(deep.headers.location).toBe('/sandboxes/x?tab=files');
    const sneaky = await browser('GET', `//evil.example/?token=${daemon.token}`, HTML);
    expect(sneaky.status).toBe(303);
    expect(sneaky.headers.location).toBe('/evil.example/');
  });
});

describe('with a session', () => {
  let cookie: string;
  beforeAll(async () => {
    cookie = await signIn(daemon.token!);
  });

  it('serves the app with a strict CSP that lets WebSockets go only back to this listener', async () => {
    const answer = await browser('GET', '/', { ...HTML, cookie });
    expect(answer.status).toBe(200);
    expect(isAppPage(answer)).toBe(true);
    const csp = answer.headers['content-security-policy'];
    const host = new URL(origin).host;
    expect(csp).toBe(
      `default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; connect-src 'self' ws://${host}; object-src 'none'; base-uri 'none'; frame-ancestors 'none'`,
    );
    expect(answer.headers['x-content-type-options']).toBe('nosniff');
    expect(answer.headers['referrer-policy']).toBe('no-referrer');
    expect(answer.headers['cache-control']).toBe('no-store');
  });

  it('serves the built assets with their types (they hold no secrets, so no session is needed)', async () => {
    const page = await browser('GET', '/', { ...HTML, cookie });
    const script = /src="(\/assets\/[^"]+\.js)"/.exec(page.text)![1]!;
    for (const headers of [{ cookie }, {}] as Record<string, string>[]) {
      const asset = await browser('GET', script, headers);
      expect(asset.status).toBe(200);
      expect(asset.headers['content-type']).toMatch(/^(application|text)\/javascript/);
      expect(asset.body.equals(await readFile(join(defaultUiDir(), script)))).toBe(true);
    }
    expectProblem(await browser('GET', '/assets/no-such-file.js', { cookie }), 404, 'route_not_found');
    expectProblem(await browser('GET', '/%2e%2e/%2e%2e/etc/passwd', { cookie }), 404, 'route_not_found');
  });

  it('answers deep links with the app (the app routes them) and keeps API 404s as problems', async () => {
    expect(isAppPage(await browser('GET', '/some/deep/link', { ...HTML, cookie }))).toBe(true);
    const signedOut = await browser('GET', '/some/deep/link', HTML);
    expect(signedOut.status).toBe(200);
    expect(isAppPage(signedOut)).toBe(false);
    expectProblem(await browser('GET', `${V1}/nope`, { ...HTML, cookie }), 404, 'route_not_found');
    expectProblem(await call(daemon, 'GET', `${V1}/nope`, { via: 'tcp', headers: HTML }), 404, 'route_not_found');
    expectProblem(await browser('GET', `${V1}/nope`, HTML), 401, 'unauthorized');
  });

  it('authenticates API requests by the cookie, but only from this listener\'s own pages', async () => {
    expect((await browser('GET', `${V1}/sandboxes`, { cookie })).json()).toEqual({ sandboxes: [] });
    const foreign = await browser('POST', `${V1}/sandboxes`, { cookie, origin: 'http://evil.example' }, { name: 'csrf' });
    expect(expectProblem(foreign, 403, 'forbidden').detail).toMatch(/evil\.example/);
    const line = (await auditLines()).find((entry) => entry.requestId === foreign.headers['x-request-id']);
    expect(line).toMatchObject({ status: 403, outcome: 'denied' });
    // Its own origin passes authentication: the invalid body is what is refused.
    expectProblem(await browser('POST', `${V1}/sandboxes`, { cookie, origin }, { name: 'Not_A_Label' }), 400, 'invalid_argument');
    // Without the cookie nothing gets through, from any origin.
    expectProblem(await browser('GET', `${V1}/sandboxes`, { origin }), 401, 'unauthorized');
    expectProblem(await browser('GET', '/metrics', { cookie: 'microvm_session_1=forged' }), 401, 'unauthorized');
    expect((await browser('GET', '/metrics', { cookie })).status).toBe(200);
    expect((await auditLines()).some((entry) => entry.url.includes(daemon.token!))).toBe(false);
  });

  it('opens a WebSocket with the cookie only when it carries this listener\'s Origin', async () => {
    const refusals: Record<string, string>[] = [{ cookie, origin: 'http://evil.example' }, { cookie }];
    for (const headers of refusals) {
      const socket = webSocket(`${V1}/events/ws`, headers);
      const refused = await opened(socket).then(
        () => null,
        (error: { status: number; body: string }) => error,
      );
      socket.terminate();
      expect(refused?.status).toBe(403);
      expect(JSON.parse(refused!.body).code).toBe('forbidden');
    }
    const socket = webSocket(`${V1}/events/ws`, { cookie, origin });
    await opened(socket);
    socket.close();
  });

  it('serves the app over the Unix socket without any session', async () => {
    const answer = await call(daemon, 'GET', '/some/deep/link', { headers: HTML });
    expect(isAppPage(answer)).toBe(true);
  });
});

describe('usage and downloads against a real sandbox', () => {
  it('lists VMM figures for a running sandbox and nulls once it is stopped', async () => {
    const sandbox = await createSandbox(daemon, { name: 'usage-one' });
    try {
      const running = await ok<{ at: number; sandboxes: { id: string; cpuSeconds: number | null; rssBytes: number | null }[] }>(daemon, 'GET', `${V1}/usage`, { via: 'tcp' });
      expect(Math.abs(running.at - Date.now())).toBeLessThan(10_000);
      const mine = running.sandboxes.find((entry) => entry.id === sandbox.id);
      expect(mine!.rssBytes).toBeGreaterThan(10 * 1024 * 1024);
      expect(mine!.cpuSeconds).toBeGreaterThan(0);

      const content = Buffer.from('downloaded\n');
      await ok(daemon, 'PUT', `${V1}/sandboxes/${sandbox.id}/files/content?path=${encodeURIComponent("/tmp/it's a file.txt")}`, { body: content });
      const path = `${V1}/sandboxes/${sandbox.id}/files/content?path=${encodeURIComponent("/tmp/it's a file.txt")}`;
      const saved = await call(daemon, 'GET', `${path}&download=true`);
      expect(saved.status).toBe(200);
      expect(saved.headers['content-disposition']).toBe("attachment; filename*=UTF-8''it%27s%20a%20file.txt");
      expect(saved.body.equals(content)).toBe(true);
      const plain = await call(daemon, 'GET', path);
      expect(plain.headers['content-disposition']).toBeUndefined();
      expect(plain.body.equals(content)).toBe(true);

      await ok(daemon, 'POST', `${V1}/sandboxes/${sandbox.id}/stop`);
      const stopped = await ok<{ sandboxes: { id: string; cpuSeconds: number | null; rssBytes: number | null }[] }>(daemon, 'GET', `${V1}/usage`);
      expect(stopped.sandboxes).toContainEqual({ id: sandbox.id, cpuSeconds: null, rssBytes: null });
    } finally {
      await destroySandbox(daemon, sandbox.id);
    }
    expect((await ok<{ sandboxes: unknown[] }>(daemon, 'GET', `${V1}/usage`)).sandboxes).toEqual([]);
  });
});

describe('token rotation', () => {
  it('ends browser sessions: the old cookie is refused, the new link works', async () => {
    const cookie = await signIn(daemon.token!);
    expect((await browser('GET', `${V1}/sandboxes`, { cookie })).status).toBe(200);
    const token = new ApiToken(daemonPaths(daemon.env).token);
    const rotated = token.rotate();
    daemon.token = rotated;
    expectProblem(await browser('GET', `${V1}/sandboxes`, { cookie }), 401, 'unauthorized');
    expect(isAppPage(await browser('GET', '/', { ...HTML, cookie }))).toBe(false);
    const fresh = await signIn(rotated);
    expect(fresh).not.toBe(cookie);
    expect(isAppPage(await browser('GET', '/', { ...HTML, cookie: fresh }))).toBe(true);
  });
});

describe('without a built UI', () => {
  it('answers / with a 503 problem saying how to build it', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'microvm-no-ui-'));
    const app = await buildManagerlessApiServer(dir, { uiDir: join(dir, 'missing') });
    try {
      const answer = await app.inject({ method: 'GET', url: '/', headers: HTML });
      expect(answer.statusCode).toBe(503);
      expect(answer.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(answer.json()).toMatchObject({ code: 'ui_not_built', detail: expect.stringMatching(/npm run build:ui/) });
    } finally {
      await app.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('npm start without Electron', () => {
  let dataDir: string;
  let child: ChildProcess | undefined;
  let blocker: Server | undefined;

  afterAll(async () => {
    if (child && child.exitCode === null) child.kill('SIGKILL');
    blocker?.close();
    if (dataDir) {
      for (const pid of await processesMentioning(`${dataDir}/`)) process.kill(pid, 'SIGKILL');
      await rm(dataDir, { recursive: true, force: true });
    }
  });

  /** Runs src/main/cli/start.ts; resolves with its first stdout line, and its stderr so far. */
  function start(env: NodeJS.ProcessEnv): { process: ChildProcess; firstLine: Promise<string>; stderr: () => string } {
    const started = spawn(process.execPath, ['--import', 'tsx', join(projectRoot(), 'src', 'main', 'cli', 'start.ts')], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    const errors: string[] = [];
    started.stderr!.on('data', (chunk: Buffer) => errors.push(chunk.toString()));
    const firstLine = new Promise<string>((resolve, reject) => {
      createInterface({ input: started.stdout! }).once('line', resolve);
      started.once('exit', (code) => reject(new Error(`start.ts exited with ${code} before printing the URL: ${errors.join('')}`)));
    });
    return { process: started, firstLine, stderr: () => errors.join('') };
  }

  it('serves the UI on loopback, prints one line with the URL and token, and stops cleanly on SIGINT', async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'microvm-start-'));
    await mkdir(join(dataDir, 'config'), { recursive: true });
    await writeFile(join(dataDir, 'config', 'config.json'), JSON.stringify({ hypervisor: 'qemu', defaults: { template: 'minimal' } }));
    const env: NodeJS.ProcessEnv = { ...process.env, MICROVM_DATA_DIR: dataDir, MICROVM_IMAGES_DIR: appPaths().images };
    for (const name of ['DISPLAY', 'WAYLAND_DISPLAY', 'MICROVM_SOCKET', 'MICROVM_URL', 'MICROVM_PORT']) delete env[name];
    // The default port taken (by this test, or by anything else already): browser mode moves to a free one and says so.
    blocker = createServer();
    await new Promise<void>((resolve) => {
      blocker!.once('error', () => resolve());
      blocker!.listen(7770, '127.0.0.1', resolve);
    });

    const first = start(env);
    child = first.process;
    const line = await first.firstLine;
    expect(line).toMatch(/^Open http:\/\/127\.0\.0\.1:\d+\/\?token=[\w-]+ in a browser \(browser mode\)\. Ctrl\+C stops the daemon/);
    expect(first.stderr()).toMatch(/The desktop app cannot start here: .+\. Serving the UI to a browser instead\./);
    expect(first.stderr()).toMatch(/Port 7770 is taken, so browser mode listens on \d+ instead/);
    const link = new URL(/http:\/\/\S+/.exec(line)![0]);
    expect(link.port).not.toBe('7770');

    const signedIn = await fetch(link, { redirect: 'manual' });
    expect(signedIn.status).toBe(303);
    const cookie = signedIn.headers.get('set-cookie')!.split(';')[0]!;
    const page = await fetch(new URL('/', link), { headers: { cookie } });
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('<div id="root">');
    expect((await fetch(new URL(`${V1}/sandboxes`, link), { headers: { cookie } })).status).toBe(200);

    // A second `npm start` finds the first and points at it instead of starting another daemon.
    const second = start(env);
    expect(await second.firstLine).toMatch(new RegExp(`^A daemon is already running \\(pid ${child.pid}\\) on .+\\. Open ${link.origin}/\\?token=`));
    expect(await new Promise((resolve) => second.process.once('exit', resolve))).toBe(0);

    const socket = daemonPaths(env).socket;
    expect(existsSync(socket)).toBe(true);
    const exited = new Promise<number | null>((resolve) => child!.once('exit', resolve));
    child.kill('SIGINT');
    expect(await exited).toBe(0);
    expect(existsSync(socket)).toBe(false);
    expect(await processesMentioning(`${dataDir}/`)).toEqual([]);
  });
});

describe('microvm serve --port', () => {
  it('prints the browser-mode link on stderr, and the link opens the app', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'microvm-serve-'));
    const env: NodeJS.ProcessEnv = { ...process.env, MICROVM_DATA_DIR: dir, MICROVM_IMAGES_DIR: appPaths().images, MICROVM_LOG_LEVEL: 'warn' };
    for (const name of ['MICROVM_SOCKET', 'MICROVM_URL']) delete env[name];
    const serve = spawn(process.execPath, [join(projectRoot(), 'bin', 'microvm.js'), 'serve', '--port', '0'], { env, stdio: ['ignore', 'ignore', 'pipe'] });
    try {
      const line = await new Promise<string>((resolve, reject) => {
        createInterface({ input: serve.stderr! }).on('line', (text) => {
          if (text.startsWith('Open ')) resolve(text);
        });
        serve.once('exit', (code) => reject(new Error(`serve exited with ${code} before printing the link`)));
      });
      expect(line).toMatch(/^Open http:\/\/127\.0\.0\.1:\d+\/\?token=[\w-]+ in a browser \(browser mode\)\./);
      const link = new URL(/http:\/\/\S+/.exec(line)![0]);
      const signedIn = await fetch(link, { redirect: 'manual' });
      const cookie = signedIn.headers.get('set-cookie')!.split(';')[0]!;
      expect(await (await fetch(new URL('/', link), { headers: { cookie } })).text()).toContain('<div id="root">');
    } finally {
      const exited = new Promise((resolve) => serve.once('exit', resolve));
      serve.kill('SIGTERM');
      expect(await exited).toBe(0);
      await rm(dir, { recursive: true, force: true });
    }
  });
});

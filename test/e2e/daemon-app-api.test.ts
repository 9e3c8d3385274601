import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SandboxEvent } from '../../src/shared/api/event-schemas.js';
import type { Sandbox } from '../../src/shared/api/sandbox-schemas.js';
import type { AppErrorInfo, TerminalEvent, UploadProgress, UploadSummary } from '../../src/shared/app-contract.js';
import { call, ok, V1 } from '../api/api-http.js';
import { ApiToken } from '../../src/main/api/api-token.js';
import { daemonPaths } from '../../src/main/core/paths/app-paths.js';
import { launchChromium } from '../support/browser-harness.js';
import { startTestDaemon, type TestDaemon } from '../support/daemon-harness.js';
import { ensureUiBuilt } from '../support/ui-build.js';

// The browser-mode transport (src/renderer/src/transport) against a real daemon and a real
// VM: every contract method through window.api, in Debian's chromium, in the page the
// daemon serves after the `/?token=` login. What lands in the guest is checked from Node.

/** What the page keeps of the streams it is subscribed to. */
interface Probe {
  events: SandboxEvent[];
  connection: boolean[];
  console: string;
  consoleEnd: Array<AppErrorInfo | null>;
  stopEvents: () => void;
  stopConsole: () => void;
}

const NAME = 'e2e-transport';
const FORK = 'e2e-transport-fork';
const DIR = '/root/transport';

let daemon: TestDaemon;
let browser: Browser;
let page: Page;
let sandbox: Sandbox;
let daemonStopped = false;

/** Asks the daemon directly, over TCP with the token: the check beside the page's view. */
const tcp = <T>(method: string, path: string, status = 200) => ok<T>(daemon, method, `${V1}${path}`, { via: 'tcp', status });

async function guestSha256(path: string): Promise<string> {
  const answer = await call(daemon, 'GET', `${V1}/sandboxes/${sandbox.id}/files/content?path=${encodeURIComponent(path)}`, { via: 'tcp' });
  expect(answer.status).toBe(200);
  return createHash('sha256').update(answer.body).digest('hex');
}

/** The code a page-side call rejected with, read inside the page (an AppError does not cross as one). */
async function rejection(script: string): Promise<{ name: string; code: string; message: string }> {
  return page.evaluate(`(async () => {
    try { await (${script}); return { name: 'resolved', code: '', message: '' }; }
    catch (e) { return { name: e.name, code: e.code, message: e.message }; }
  })()`);
}

beforeAll(async () => {
  await ensureUiBuilt();
  daemon = await startTestDaemon({ tcp: true });
  browser = await launchChromium();
  page = await (await browser.newContext({ acceptDownloads: true })).newPage();
  await page.goto(`${daemon.url}/?token=${encodeURIComponent(daemon.token!)}`);
  await page.waitForFunction(() => typeof window.api?.appInfo === 'function');
});

afterAll(async () => {
  await browser?.close();
  if (daemon && !daemonStopped) {
    const { sandboxes } = await ok<{ sandboxes: Sandbox[] }>(daemon, 'GET', `${V1}/sandboxes`);
    for (const s of sandboxes) await ok(daemon, 'DELETE', `${V1}/sandboxes/${s.id}`, { status: 204 });
    expect(await daemon.stop()).toEqual([]);
  }
});

describe('window.api in browser mode (the daemon transport)', () => {
  it('was given a session cookie the page cannot read, and no token', async () => {
    const seen = await page.evaluate(() => ({ cookie: document.cookie, href: location.href }));
    expect(seen.cookie).toBe('');
    expect(seen.href).not.toContain(daemon.token!);
  });

  it('answers appInfo, system and templates', async () => {
    const version = await tcp<{ version: string }>('GET', '/version');
    const info = await page.evaluate(() => window.api.appInfo());
    expect(info).toEqual({ name: 'MicroVM Sandbox', version: version.version, shell: 'browser', daemon: new URL(daemon.url!).origin });
    const system = await page.evaluate(() => window.api.system());
    expect(system.version).toBe(version.version);
    expect(system.host.cpus).toBeGreaterThan(0);
    const templates = await page.evaluate(() => window.api.templates());
    expect(templates.some((t) => t.default && t.built)).toBe(true);
  });

  it('creates a sandbox, lists it, and delivers its state events', async () => {
    await page.evaluate(() => {
      const probe: Probe = { events: [], connection: [], console: '', consoleEnd: [], stopEvents: () => undefined, stopConsole: () => undefined };
      (window as unknown as { probe: Probe }).probe = probe;
      probe.stopEvents = window.api.watchEvents(
        (event) => probe.events.push(event),
        (connected) => probe.connection.push(connected),
      );
    });
    await expect.poll(() => page.evaluate(() => (window as unknown as { probe: Probe }).probe.connection)).toEqual([true]);

    sandbox = await page.evaluate((name) => window.api.createSandbox({ name, memoryMiB: 256, vcpus: 1 }), NAME);
    expect(sandbox).toMatchObject({ name: NAME, state: 'running', memoryMiB: 256 });
    const listed = await page.evaluate(() => window.api.listSandboxes());
    expect(listed.map((s) => s.id)).toContain(sandbox.id);

    const states = () => page.evaluate((id) => (window as unknown as { probe: Probe }).probe.events.filter((e) => e.type === 'state' && e.id === id).map((e) => (e as { state: string }).state), sandbox.id);
    await expect.poll(states).toEqual(['creating', 'running']);

    const paused = await page.evaluate((id) => window.api.sandboxAction(id, 'pause'), sandbox.id);
    expect(paused.state).toBe('paused');
    const resumed = await page.evaluate((id) => window.api.sandboxAction(id, 'resume'), sandbox.id);
    expect(resumed.state).toBe('running');
    await expect.poll(states).toEqual(['creating', 'running', 'paused', 'running']);
  });

  it('reports usage of the running sandbox', async () => {
    const usage = await page.evaluate(() => window.api.usage());
    const mine = usage.sandboxes.find((u) => u.id === sandbox.id);
    expect(mine?.rssBytes).toBeGreaterThan(64 * 1024 * 1024);
    expect(mine?.cpuSeconds).toBeGreaterThan(0);
    expect(Math.abs(usage.at - Date.now())).toBeLessThan(60_000);
  });

  it('runs a login shell on a pty: typed commands, resize reaching stty size, close ending in an exit', async () => {
    await page.evaluate((id) => {
      const t = { text: '', ends: [] as TerminalEvent[] };
      const decoder = new TextDecoder();
      const session = window.api.openTerminal(id, { cols: 80, rows: 24 }, (event) => {
        if (event.type === 'output') t.text += decoder.decode(event.data, { stream: true });
        else t.ends.push(event);
      });
      // Written before the socket opens: the transport holds it until the process runs.
      session.write('echo answer-$((6*7))\n');
      Object.assign(window, { term: t, session });
    }, sandbox.id);
    type Term = { term: { text: string; ends: TerminalEvent[] }; session: { write(d: string): void; resize(c: number, r: number): void; close(): void } };
    const text = () => page.evaluate(() => (window as unknown as Term).term.text);
    await expect.poll(text, { timeout: 60_000 }).toContain('answer-42');

    await page.evaluate(() => {
      const { session } = window as unknown as Term;
      session.resize(100, 40);
      session.write('stty size\n');
    });
    await expect.poll(text, { timeout: 30_000 }).toMatch(/\b40 100\b/);

    await page.evaluate(() => (window as unknown as Term).session.close());
    await expect.poll(() => page.evaluate(() => (window as unknown as Term).term.ends), { timeout: 30_000 }).toEqual([{ type: 'exit', exitCode: null, signal: 'SIGKILL' }]);
    const bad = await page.evaluate(() => {
      try {
        (window as unknown as Term).session.resize(0, 24);
        return null;
      } catch (e) {
        return (e as { code: string }).code;
      }
    });
    expect(bad).toBe('invalid_argument');
  });

  it('runs a given argv on a pty of the given size and reports its exit code', async () => {
    const result = await page.evaluate(
      (id) =>
        new Promise<{ text: string; end: TerminalEvent }>((resolve) => {
          let text = '';
          const decoder = new TextDecoder();
          window.api.openTerminal(id, { cols: 90, rows: 30, argv: ['/bin/sh', '-c', 'stty size; test -t 0 && echo tty; exit 3'] }, (event) => {
            if (event.type === 'output') text += decoder.decode(event.data, { stream: true });
            else resolve({ text, end: event });
          });
        }),
      sandbox.id,
    );
    expect(result.text).toMatch(/30 90\r?\ntty/);
    expect(result.end).toEqual({ type: 'exit', exitCode: 3, signal: null });
  });

  it('makes, lists and removes directories', async () => {
    await page.evaluate(([id, dir]) => window.api.makeDirectory(id!, dir!), [sandbox.id, DIR]);
    const root = await page.evaluate((id) => window.api.listFiles(id, '/root'), sandbox.id);
    expect(root.find((f) => f.name === 'transport')).toMatchObject({ type: 'dir', path: DIR });
    const again = await rejection(`window.api.makeDirectory(${JSON.stringify(sandbox.id)}, ${JSON.stringify(DIR)})`);
    expect(again.code).toBe('already_exists');
    const relative = await rejection(`window.api.listFiles(${JSON.stringify(sandbox.id)}, 'root')`);
    expect(relative).toMatchObject({ name: 'AppError', code: 'invalid_argument' });
    expect(relative.message).toContain('absolute');
  });

  it('uploads two files made in the page with progress; both land with the right sha256', async () => {
    const outcome = await page.evaluate(
      async ([id, dir]) => {
        const bytes = (size: number) => {
          const out = new Uint8Array(size);
          for (let offset = 0; offset < size; offset += 65536) crypto.getRandomValues(out.subarray(offset, Math.min(size, offset + 65536)));
          return out;
        };
        const hex = async (data: Uint8Array<ArrayBuffer>) => [...new Uint8Array(await crypto.subtle.digest('SHA-256', data))].map((b) => b.toString(16).padStart(2, '0')).join('');
        const big = bytes(5 * 1024 * 1024);
        const small = new TextEncoder().encode('{"small": true}\n');
        const events: UploadProgress[] = [];
        const job = window.api.uploadFiles(
          id!,
          dir!,
          [
            { relativePath: 'big.bin', file: new File([big], 'big.bin') },
            // A JSON file's own type must not send it to the daemon's JSON parser.
            { relativePath: 'nested/deeper/small.json', file: new File([small], 'small.json', { type: 'application/json' }) },
          ],
          (p) => events.push(p),
        );
        const summary = await job.result();
        return { summary, events, hashes: [await hex(big), await hex(small)] };
      },
      [sandbox.id, DIR],
    );
    expect(outcome.summary).toEqual({ done: 2, failed: 0, cancelled: 0 });
    const of = (index: number) => outcome.events.filter((e) => e.index === index);
    const big = of(0);
    expect(big[0]).toMatchObject({ state: 'queued', loaded: 0, total: 5 * 1024 * 1024, relativePath: 'big.bin' });
    expect(big.at(-1)).toMatchObject({ state: 'done', loaded: 5 * 1024 * 1024 });
    expect(big.some((e) => e.state === 'uploading' && e.loaded > 0)).toBe(true);
    expect(of(1).map((e) => e.state)).toContain('uploading');
    expect(of(1).at(-1)).toMatchObject({ state: 'done', loaded: of(1)[0]!.total });
    expect(await guestSha256(`${DIR}/big.bin`)).toBe(outcome.hashes[0]);
    expect(await guestSha256(`${DIR}/nested/deeper/small.json`)).toBe(outcome.hashes[1]);
  });

  it('cancels: a queued file at once, uploading ones by aborting, leaving no partial file', async () => {
    const outcome = await page.evaluate(
      async ([id, dir]) => {
        const huge = () => new File([new Uint8Array(96 * 1024 * 1024)], 'huge.bin');
        const events: UploadProgress[] = [];
        let cancelled = false;
        let job: { cancel(index?: number): void; result(): Promise<UploadSummary> } | undefined = undefined;
        job = window.api.uploadFiles(
          id!,
          dir!,
          [
            { relativePath: 'huge-1.bin', file: huge() },
            { relativePath: 'huge-2.bin', file: huge() },
            { relativePath: 'queued.txt', file: new File(['never sent'], 'queued.txt') },
          ],
          (p) => {
            events.push(p);
            if (!cancelled && p.state === 'uploading' && p.loaded > 0) {
              cancelled = true;
              job?.cancel();
            }
          },
        );
        // Two at a time: the third waits, and is cancelled without a request.
        job.cancel(2);
        return { summary: await job.result(), events };
      },
      [sandbox.id, DIR],
    );
    expect(outcome.summary).toEqual({ done: 0, failed: 0, cancelled: 3 });
    const queued = outcome.events.filter((e) => e.index === 2).map((e) => e.state);
    expect(queued).toEqual(['queued', 'cancelled']);
    for (const index of [0, 1]) expect(outcome.events.filter((e) => e.index === index).at(-1)?.state).toBe('cancelled');
    // The guest agent writes into a hidden temporary file and drops it when the stream is cut.
    await expect
      .poll(async () => (await tcp<{ entries: Array<{ name: string }> }>('GET', `/sandboxes/${sandbox.id}/files?path=${encodeURIComponent(DIR)}`)).entries.map((e) => e.name).sort(), {
        timeout: 30_000,
      })
      .toEqual(['big.bin', 'nested']);
  });

  it('refuses upload names that leave the folder, per file', async () => {
    const outcome = await page.evaluate((id) => {
      const events: UploadProgress[] = [];
      const file = new File(['x'], 'x');
      const job = window.api.uploadFiles(id, '/root', [{ relativePath: '../etc/x', file }, { relativePath: '/abs', file }], (p) => events.push(p));
      const relativeDest = window.api.uploadFiles(id, 'root', [{ relativePath: 'x', file }], (p) => events.push(p));
      return Promise.all([job.result(), relativeDest.result()]).then((summaries) => ({ summaries, events }));
    }, sandbox.id);
    expect(outcome.summaries).toEqual([
      { done: 0, failed: 2, cancelled: 0 },
      { done: 0, failed: 1, cancelled: 0 },
    ]);
    expect(outcome.events.map((e) => e.state)).toEqual(['failed', 'failed', 'failed']);
    expect(outcome.events[0]!.error).toContain('relativePath');
    expect(outcome.events[2]!.error).toContain('destDir');
  });

  it('downloads a guest file through the browser', async () => {
    const downloading = page.waitForEvent('download');
    downloading.catch(() => undefined);
    await page.evaluate(([id, path]) => window.api.downloadFile(id!, path!), [sandbox.id, `${DIR}/big.bin`]);
    const download = await downloading;
    expect(download.suggestedFilename()).toBe('big.bin');
    const saved = await readFile((await download.path())!);
    expect(createHash('sha256').update(saved).digest('hex')).toBe(await guestSha256(`${DIR}/big.bin`));
    const directory = await rejection(`window.api.downloadFile(${JSON.stringify(sandbox.id)}, ${JSON.stringify(DIR)})`);
    expect(directory.code).toBe('is_directory');
    const missing = await rejection(`window.api.downloadFile(${JSON.stringify(sandbox.id)}, '/no/such/file')`);
    expect(missing.code).toBe('not_found');
  });

  it('removes a directory tree', async () => {
    await page.evaluate(([id, dir]) => window.api.removePath(id!, dir!), [sandbox.id, DIR]);
    const root = await page.evaluate((id) => window.api.listFiles(id, '/root'), sandbox.id);
    expect(root.map((f) => f.name)).not.toContain('transport');
  });

  it('follows the serial console until unsubscribed', async () => {
    await page.evaluate((id) => {
      const probe = (window as unknown as { probe: Probe }).probe;
      probe.stopConsole = window.api.followConsole(
        id,
        (text) => (probe.console += text),
        (error) => probe.consoleEnd.push(error),
      );
    }, sandbox.id);
    const serial = (await call(daemon, 'GET', `${V1}/sandboxes/${sandbox.id}/logs?tail=5`, { via: 'tcp' })).text;
    const lastLine = serial.trim().split('\n').at(-1)!.trim();
    expect(lastLine.length).toBeGreaterThan(0);
    await expect.poll(() => page.evaluate(() => (window as unknown as { probe: Probe }).probe.console), { timeout: 30_000 }).toContain(lastLine);
    const ends = await page.evaluate(() => {
      const probe = (window as unknown as { probe: Probe }).probe;
      probe.stopConsole();
      return probe.consoleEnd;
    });
    expect(ends).toEqual([]);
  });

  it('takes, lists, restores, forks and deletes snapshots', async () => {
    const id = sandbox.id;
    const snap = await page.evaluate((sid) => window.api.takeSnapshot(sid, 'before'), id);
    expect(snap).toMatchObject({ name: 'before', sandboxId: id });
    await page.evaluate((sid) => window.api.makeDirectory(sid, '/root/after-snapshot'), id);

    const tree = await page.evaluate((sid) => window.api.snapshotTree(sid), id);
    expect(tree.current).toBe(snap.id);
    expect(tree.snapshots.map((s) => s.id)).toEqual([snap.id]);

    const restored = await page.evaluate(([sid, snapId]) => window.api.restoreSnapshot(sid!, snapId!), [id, snap.id]);
    expect(restored).toMatchObject({ id, state: 'running', currentSnapshotId: snap.id });
    const root = await page.evaluate((sid) => window.api.listFiles(sid, '/root'), id);
    expect(root.map((f) => f.name)).not.toContain('after-snapshot');

    const fork = await page.evaluate(([sid, snapId, name]) => window.api.forkSnapshot(sid!, snapId!, name), [id, snap.id, FORK]);
    expect(fork).toMatchObject({ name: FORK, state: 'running' });
    expect((await page.evaluate(() => window.api.listSandboxes())).map((s) => s.name).sort()).toEqual([NAME, FORK].sort());
    // The daemon restores a snapshot in its own sandbox; asked through the fork, it is refused.
    const foreign = await rejection(`window.api.restoreSnapshot(${JSON.stringify(fork.id)}, ${JSON.stringify(snap.id)})`);
    expect(foreign.code).toBe('invalid_argument');
    await page.evaluate((sid) => window.api.deleteSandbox(sid), fork.id);

    await expect
      .poll(() =>
        page.evaluate(
          (sid) => (window as unknown as { probe: Probe }).probe.events.filter((e) => e.type === 'snapshot' && e.id === sid).map((e) => (e as { action: string }).action),
          id,
        ),
      )
      .toEqual(['created', 'restored']);
    await page.evaluate(([sid, snapId]) => window.api.deleteSnapshot(sid!, snapId!), [id, snap.id]);
    expect((await page.evaluate((sid) => window.api.snapshotTree(sid), id)).snapshots).toEqual([]);
  });

  it('says there is no display, and a display connection ends at once with why', async () => {
    expect(await page.evaluate((id) => window.api.display(id), sandbox.id)).toEqual({ available: false, reason: expect.stringMatching(/has no display: its template "minimal" defines none/) });
    const events = await page.evaluate(
      (id) =>
        new Promise<unknown[]>((resolve) => {
          const seen: unknown[] = [];
          window.api.openDisplay(id, (event) => {
            seen.push(event);
            if (event.type === 'close') setTimeout(() => resolve(seen), 100);
          });
        }),
      sandbox.id,
    );
    expect(events).toEqual([{ type: 'close', code: 1011, reason: expect.stringMatching(/^\[no_display\] /) }]);
  });

  it('forwards a host port to a server in the guest, lists the forward and removes it', async () => {
    const exec = (argv: string[]) => ok<{ exitCode: number; stderr: string }>(daemon, 'POST', `${V1}/sandboxes/${sandbox.id}/exec`, { via: 'tcp', json: { argv } });
    expect(await exec(['sh', '-c', 'mkdir -p /tmp/www && echo forwarded > /tmp/www/index.html && busybox httpd -p 127.0.0.1:8000 -h /tmp/www'])).toMatchObject({ exitCode: 0 });

    const forward = await page.evaluate((id) => window.api.addPort(id, { guestPort: 8000 }), sandbox.id);
    expect(forward).toMatchObject({ sandboxId: sandbox.id, guestPort: 8000, address: '127.0.0.1', url: `http://127.0.0.1:${forward.hostPort}` });
    expect(await page.evaluate((id) => window.api.listPorts(id), sandbox.id)).toEqual([forward]);
    const response = await fetch(`${forward.url}/index.html`);
    expect(await response.text()).toBe('forwarded\n');

    const remote = await rejection(`window.api.addPort(${JSON.stringify(sandbox.id)}, { guestPort: 8000, address: '0.0.0.0' })`);
    expect(remote).toMatchObject({ name: 'AppError', code: 'invalid_argument', message: expect.stringMatching(/^address: 0\.0\.0\.0 is not a loopback address/) });
    const taken = await rejection(`window.api.addPort(${JSON.stringify(sandbox.id)}, { guestPort: 22, hostPort: ${forward.hostPort} })`);
    expect(taken).toMatchObject({ name: 'AppError', code: 'port_in_use' });
    expect(await rejection(`window.api.removePort(${JSON.stringify(sandbox.id)}, 0)`)).toMatchObject({ code: 'invalid_argument' });

    await page.evaluate(([id, port]) => window.api.removePort(id as string, port as number), [sandbox.id, forward.hostPort]);
    expect(await page.evaluate((id) => window.api.listPorts(id), sandbox.id)).toEqual([]);
    const gone = await fetch(`${forward.url}/index.html`).then(
      () => 'answered',
      (error: { cause?: { code?: string } }) => error.cause?.code,
    );
    expect(gone).toBe('ECONNREFUSED');
  });

  it('rejects with the problem code for an unknown sandbox, in every kind of call', async () => {
    for (const script of [
      `window.api.sandboxAction('no-such-sandbox', 'start')`,
      `window.api.deleteSandbox('no-such-sandbox')`,
      `window.api.listFiles('no-such-sandbox', '/')`,
      `window.api.snapshotTree('no-such-sandbox')`,
      `window.api.display('no-such-sandbox')`,
      `window.api.listPorts('no-such-sandbox')`,
      `window.api.addPort('no-such-sandbox', { guestPort: 80 })`,
      `window.api.removePort('no-such-sandbox', 8000)`,
    ]) {
      expect(await rejection(script), script).toMatchObject({ name: 'AppError', code: 'not_found' });
    }
    const action = await rejection(`window.api.sandboxAction(${JSON.stringify(sandbox.id)}, 'snapshots')`);
    expect(action.code).toBe('invalid_argument');
    const streams = await page.evaluate(
      () =>
        new Promise<{ terminal: TerminalEvent; console: AppErrorInfo | null }>((resolve) => {
          let terminal: TerminalEvent | undefined;
          let consoleEnd: AppErrorInfo | null | undefined;
          const done = () => terminal && consoleEnd !== undefined && resolve({ terminal, console: consoleEnd });
          window.api.openTerminal('no-such-sandbox', { cols: 80, rows: 24 }, (event) => {
            terminal = event;
            done();
          });
          window.api.followConsole(
            'no-such-sandbox',
            () => undefined,
            (error) => {
              consoleEnd = error;
              done();
            },
          );
        }),
    );
    expect(streams.terminal).toMatchObject({ type: 'error', code: 'not_found' });
    expect(streams.console).toMatchObject({ code: 'not_found' });
  });

  it('deletes the sandbox, the event stream connected throughout', async () => {
    await page.evaluate((id) => window.api.deleteSandbox(id), sandbox.id);
    expect(await page.evaluate(() => window.api.listSandboxes())).toEqual([]);
    const connection = await page.evaluate(() => {
      const probe = (window as unknown as { probe: Probe }).probe;
      probe.stopEvents();
      return probe.connection;
    });
    expect(connection).toEqual([true]);
  });

  it('reconnects the event stream after a drop, and after a refusal once the user signs in again', async () => {
    const relay = await startRelay(Number(new URL(daemon.url!).port));
    const context = await browser.newContext();
    try {
      const tab = await context.newPage();
      await tab.goto(`${relay.url}/?token=${encodeURIComponent(daemon.token!)}`);
      await tab.waitForFunction(() => typeof window.api?.appInfo === 'function');
      await tab.evaluate(() => {
        const seen = { connection: [] as boolean[], states: [] as string[] };
        window.api.watchEvents(
          (event) => event.type === 'state' && seen.states.push(event.state),
          (connected) => seen.connection.push(connected),
        );
        Object.assign(window, { seen });
      });
      type Seen = { seen: { connection: boolean[]; states: string[] } };
      const connection = () => tab.evaluate(() => (window as unknown as Seen).seen.connection);
      await expect.poll(connection).toEqual([true]);

      relay.cut();
      // EventSource retries a dropped stream by itself.
      await expect.poll(connection, { timeout: 30_000 }).toEqual([true, false, true]);

      // A retry answered 401 (the token was rotated meanwhile) ends an EventSource for good; the transport keeps opening new ones.
      const token = new ApiToken(daemonPaths(daemon.env).token).rotate();
      daemon.token = token;
      relay.cut();
      await expect.poll(connection, { timeout: 30_000 }).toEqual([true, false, true, false]);
      await new Promise((resolve) => setTimeout(resolve, 3000));
      expect(await connection()).toEqual([true, false, true, false]);
      // The user opens the new link in another tab: the renewed cookie is what the next attempt sends.
      const login = await context.newPage();
      await login.goto(`${relay.url}/?token=${encodeURIComponent(token)}`);
      await login.close();
      await expect.poll(connection, { timeout: 30_000 }).toEqual([true, false, true, false, true]);

      const created = await tab.evaluate((name) => window.api.createSandbox({ name, memoryMiB: 256, vcpus: 1 }), NAME);
      await expect.poll(() => tab.evaluate(() => (window as unknown as Seen).seen.states)).toEqual(['creating', 'running']);
      await tab.evaluate((id) => window.api.deleteSandbox(id), created.id);
    } finally {
      await context.close();
      await relay.close();
    }
  });

  it('reports a daemon that is gone as daemon_unreachable and the event stream as disconnected', async () => {
    // The token was rotated above: this page signs in again, as its user would.
    await page.goto(`${daemon.url}/?token=${encodeURIComponent(daemon.token!)}`);
    await page.waitForFunction(() => typeof window.api?.appInfo === 'function');
    await page.evaluate(() => {
      const seen = { connection: [] as boolean[] };
      window.api.watchEvents(
        () => undefined,
        (connected) => seen.connection.push(connected),
      );
      Object.assign(window, { seen });
    });
    const connection = () => page.evaluate(() => (window as unknown as { seen: { connection: boolean[] } }).seen.connection);
    await expect.poll(connection).toEqual([true]);
    daemonStopped = true;
    expect(await daemon.stop()).toEqual([]);
    await expect.poll(connection).toEqual([true, false]);
    expect(await rejection('window.api.listSandboxes()')).toMatchObject({ name: 'AppError', code: 'daemon_unreachable' });
  });
});

/** A TCP relay to the daemon whose connections the test can cut, as a network drop would. */
async function startRelay(port: number): Promise<{ url: string; cut(): void; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    const upstream = connect(port, '127.0.0.1');
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      socket.on('error', () => undefined);
    }
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const cut = () => {
    for (const socket of sockets) socket.destroy();
  };
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    cut,
    close: () => {
      cut();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

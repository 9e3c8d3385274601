import { createHash, randomBytes } from 'node:crypto';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ok, V1, type SandboxView } from '../api/api-http.js';
import { openBrowserMode, type BrowserModeSession } from '../support/browser-harness.js';
import { startTestDaemon, type TestDaemon } from '../support/daemon-harness.js';
import { ensureUiBuilt } from '../support/ui-build.js';

// The user journey, in Debian's chromium against browser mode, with a real daemon
// and real QEMU VMs. Each step leaves a screenshot in test-artifacts/ui-flow/.

const NAME = 'e2e-ui';
const DIR = '/tmp';

let daemon: TestDaemon;
let session: BrowserModeSession;
let page: Page;

// vitest's expect.poll gives up after 1 s by default; the UI waits on real VMs under TCG.
const poll = <T>(read: () => T | Promise<T>, timeout = 120_000) => expect.poll(read, { timeout, interval: 250 });

const row = (name: string) => page.getByRole('table', { name: 'Sandboxes' }).getByRole('row').filter({ has: page.getByRole('button', { name, exact: true }) });
const fileTable = () => page.getByRole('table', { name: 'Files' });
const fileRow = (name: string) => fileTable().getByRole('row').filter({ hasText: name });

async function openTab(name: string): Promise<void> {
  await page.getByRole('tab', { name, exact: true }).click();
  await poll(() => page.getByRole('tab', { name, exact: true }).getAttribute('aria-selected')).toBe('true');
}

async function goTo(path: string): Promise<void> {
  const box = page.getByRole('textbox', { name: 'Path' });
  await box.fill(path);
  await box.press('Enter');
}

async function sandboxesByName(): Promise<Map<string, SandboxView>> {
  const { sandboxes } = await ok<{ sandboxes: SandboxView[] }>(daemon, 'GET', `${V1}/sandboxes`);
  return new Map(sandboxes.map((s) => [s.name, s]));
}

beforeAll(async () => {
  await ensureUiBuilt();
  daemon = await startTestDaemon({ tcp: true });
  session = await openBrowserMode(daemon, 'ui-flow');
  page = session.page;
  page.setDefaultTimeout(120_000);
});

afterAll(async () => {
  await session?.close();
  if (daemon) {
    for (const sandbox of (await sandboxesByName()).values()) await ok(daemon, 'DELETE', `${V1}/sandboxes/${sandbox.id}`, { status: 204 });
    expect(await daemon.stop()).toEqual([]);
  }
});

describe('the app in browser mode, step by step', () => {
  it('creates a sandbox from the dialog and shows it running', async () => {
    await poll(() => page.getByRole('table', { name: 'Sandboxes' }).isVisible()).toBe(true);
    await page.getByRole('button', { name: 'New sandbox' }).click();
    const dialog = page.getByRole('dialog', { name: 'Create sandbox' });
    await dialog.getByLabel('Name').fill(NAME);
    await dialog.getByLabel('Memory (MiB)').fill('256');
    await dialog.getByLabel('vCPUs').fill('1');
    await session.screenshot('create-dialog');
    await dialog.getByRole('button', { name: 'Create' }).click();
    await poll(() => row(NAME).count()).toBe(1);
    await poll(() => row(NAME).textContent(), 180_000).toContain('running');
    const created = (await sandboxesByName()).get(NAME);
    expect(created).toMatchObject({ state: 'running', memoryMiB: 256, vcpus: 1 });
    await session.screenshot('running');
  });

  it('runs a command typed into the terminal', async () => {
    await page.getByRole('button', { name: NAME, exact: true }).click();
    await openTab('Terminal');
    const terminal = page.locator('.xterm').first();
    await terminal.click();
    // Arithmetic the shell must do, so the echo of the typed line cannot satisfy the check.
    await page.keyboard.type('echo answer-$((6*7))');
    await page.keyboard.press('Enter');
    await poll(() => page.locator('.xterm-rows').first().textContent(), 60_000).toContain('answer-42');
    await session.screenshot('terminal');
  });

  it('uploads two dropped files, which land in the VM with the right sha256', async () => {
    await openTab('Files');
    await goTo(DIR);
    const files = [
      { name: 'dropped-a.bin', bytes: randomBytes(300_000) },
      { name: 'dropped-b.txt', bytes: Buffer.from('second dropped file\n'.repeat(1000)) },
    ];
    // A real drop event carrying a DataTransfer with File objects made in the page.
    const transfer = await page.evaluateHandle((list) => {
      const data = new DataTransfer();
      for (const f of list) data.items.add(new File([Uint8Array.from(atob(f.base64), (c) => c.charCodeAt(0))], f.name));
      return data;
    }, files.map((f) => ({ name: f.name, base64: f.bytes.toString('base64') })));
    const zone = page.getByRole('region', { name: 'Upload drop zone' });
    await zone.dispatchEvent('dragenter', { dataTransfer: transfer });
    await zone.dispatchEvent('dragover', { dataTransfer: transfer });
    await zone.dispatchEvent('drop', { dataTransfer: transfer });
    const uploads = page.getByRole('list', { name: 'Uploads' });
    for (const f of files) await poll(() => uploads.getByRole('listitem').filter({ hasText: f.name }).textContent()).toContain('done');
    for (const f of files) await poll(() => fileRow(f.name).count()).toBe(1);
    await session.screenshot('files-dropped');

    const sandbox = (await sandboxesByName()).get(NAME)!;
    const result = await ok<{ exitCode: number; stdout: string }>(daemon, 'POST', `${V1}/sandboxes/${sandbox.id}/exec`, {
      json: { argv: ['sha256sum', ...files.map((f) => `${DIR}/${f.name}`)] },
    });
    expect(result.exitCode).toBe(0);
    for (const f of files) expect(result.stdout).toContain(`${createHash('sha256').update(f.bytes).digest('hex')}  ${DIR}/${f.name}`);
  });

  it('takes two snapshots, restores the first from the timeline, and the file list reverts', async () => {
    await openTab('Snapshots');
    const tree = page.getByRole('tree', { name: 'Snapshots' });
    await page.getByRole('textbox', { name: 'Snapshot name' }).fill('first');
    await page.getByRole('button', { name: 'Take snapshot' }).click();
    await poll(() => tree.getByRole('treeitem', { name: /^first/ }).count()).toBe(1);

    await openTab('Files');
    await goTo(DIR);
    await page.getByRole('button', { name: 'New folder' }).click();
    await page.getByRole('textbox', { name: 'Folder name' }).fill('made-after-first');
    await page.getByRole('button', { name: 'Create folder' }).click();
    await poll(() => fileRow('made-after-first').count()).toBe(1);

    await openTab('Snapshots');
    await page.getByRole('textbox', { name: 'Snapshot name' }).fill('second');
    await page.getByRole('button', { name: 'Take snapshot' }).click();
    const second = tree.getByRole('treeitem', { name: /^second/ });
    await poll(() => second.count()).toBe(1);
    await poll(() => second.getAttribute('aria-current')).toBe('true');
    await session.screenshot('two-snapshots');

    await page.getByRole('button', { name: 'Restore first' }).click();
    await page.getByRole('alertdialog').getByRole('button', { name: 'Restore' }).click();
    await poll(() => tree.getByRole('treeitem', { name: /^first/ }).getAttribute('aria-current'), 120_000).toBe('true');
    await session.screenshot('restored-first');

    await openTab('Files');
    await goTo(DIR);
    await poll(() => fileRow('dropped-a.bin').count()).toBe(1);
    await poll(() => fileRow('made-after-first').count()).toBe(0);
    await session.screenshot('files-reverted');
  });

  it('forks from the timeline and the new sandbox appears in the list', async () => {
    await openTab('Snapshots');
    const before = await sandboxesByName();
    await page.getByRole('button', { name: 'Fork first' }).click();
    await poll(async () => (await sandboxesByName()).size, 180_000).toBe(before.size + 1);
    const fork = [...(await sandboxesByName()).values()].find((s) => !before.has(s.name))!;
    await poll(() => row(fork.name).count()).toBe(1);
    await poll(() => row(fork.name).textContent(), 180_000).toContain('running');
    await session.screenshot('forked');
  });

  it('deletes the sandbox', async () => {
    await page.getByRole('button', { name: NAME, exact: true }).click();
    await page.getByRole('button', { name: 'Delete sandbox' }).click();
    await page.getByRole('alertdialog').getByRole('button', { name: 'Delete' }).click();
    await poll(() => row(NAME).count(), 120_000).toBe(0);
    expect((await sandboxesByName()).has(NAME)).toBe(false);
    await session.screenshot('deleted');
  });
});

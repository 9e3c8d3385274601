import type { Page } from 'playwright-core';
import { ok, V1 } from '../api/api-http.js';
import { openBrowserMode } from '../support/browser-harness.js';
import { startTestDaemon } from '../support/daemon-harness.js';
import { minimalImage } from '../support/minimal-vm.js';
import { ensureUiBuilt } from '../support/ui-build.js';

// Method: docs/benchmarks.md, scenario `ui`.

const LIST_SANDBOXES = 8;
const RELOADS = 5;
const CREATES = 3;

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor((values.length - 1) / 2)] ?? NaN;
const round = (n: number) => Number(n.toFixed(1));

/** Milliseconds from navigation start until the list shows `rows` sandboxes, read in the page. */
async function firstListRender(page: Page, url: string, rows: number): Promise<number> {
  await page.goto(url);
  const handle = await page.waitForFunction(
    (n) => {
      const table = Array.from(document.querySelectorAll('[role="table"], table')).find((t) => t.getAttribute('aria-label') === 'Sandboxes');
      const count = table ? table.querySelectorAll('tbody tr, [role="row"][aria-rowindex]').length : 0;
      return count >= n ? performance.now() : false;
    },
    rows,
    { polling: 'raf', timeout: 60_000 },
  );
  return (await handle.jsonValue()) as number;
}

export async function uiScenario(): Promise<Record<string, unknown>> {
  await minimalImage();
  await ensureUiBuilt();
  const daemon = await startTestDaemon({ tcp: true });
  const session = await openBrowserMode(daemon, 'bench-ui');
  const { page } = session;
  let figures: Record<string, unknown>;
  try {
    for (let i = 0; i < LIST_SANDBOXES; i++) await ok(daemon, 'POST', `${V1}/sandboxes`, { json: { name: `bench-list-${i}`, memoryMiB: 128 }, status: 201 });
    for (let i = 0; i < LIST_SANDBOXES; i++) await ok(daemon, 'POST', `${V1}/sandboxes/bench-list-${i}/stop`);

    const emptyish: number[] = [];
    const listed: number[] = [];
    for (let i = 0; i < RELOADS; i++) listed.push(await firstListRender(page, `${daemon.url}/`, LIST_SANDBOXES));
    for (let i = 0; i < LIST_SANDBOXES; i++) await ok(daemon, 'DELETE', `${V1}/sandboxes/bench-list-${i}`, { status: 204 });
    for (let i = 0; i < RELOADS; i++) emptyish.push(await firstListRender(page, `${daemon.url}/`, 0));

    // Click "Create" → the row says "running"; the first create also captures the warm-start state.
    const createToRunning: number[] = [];
    const apiCreate: number[] = [];
    for (let i = 0; i <= CREATES; i++) {
      const name = `bench-ui-${i}`;
      await page.getByRole('button', { name: 'New sandbox' }).click();
      const dialog = page.getByRole('dialog', { name: 'Create sandbox' });
      await dialog.getByLabel('Name').fill(name);
      await dialog.getByLabel('Memory (MiB)').fill('256');
      await dialog.getByLabel('vCPUs').fill('1');
      const t = performance.now();
      await dialog.getByRole('button', { name: 'Create' }).click();
      await page.waitForFunction(
        (n) => Array.from(document.querySelectorAll('tr, [role="row"]')).some((r) => r.textContent?.includes(n) && r.textContent.includes('running')),
        name,
        { polling: 'raf', timeout: 180_000 },
      );
      if (i > 0) createToRunning.push(performance.now() - t);
      const a = performance.now();
      await ok(daemon, 'POST', `${V1}/sandboxes`, { json: { name: `bench-api-${i}`, memoryMiB: 256, vcpus: 1 }, status: 201 });
      if (i > 0) apiCreate.push(performance.now() - a);
      await ok(daemon, 'DELETE', `${V1}/sandboxes/${name}`, { status: 204 });
      await ok(daemon, 'DELETE', `${V1}/sandboxes/bench-api-${i}`, { status: 204 });
    }
    figures = {
      firstRenderEmptyListMsMedian: round(median(emptyish)),
      firstRenderListOf8MsMedian: round(median(listed)),
      clickCreateToRunningShownMsMedian: round(median(createToRunning)),
      apiCreateMsMedian: round(median(apiCreate)),
      uiOverheadMs: round(median(createToRunning) - median(apiCreate)),
    };
  } finally {
    await session.close();
    const left = await daemon.stop();
    if (left.length) process.stderr.write(`bench ui: VMMs left behind and killed: ${left.join(', ')}\n`);
  }
  return figures;
}

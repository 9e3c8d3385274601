import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { defaultAppConfig } from '../../src/main/core/config/app-config.js';
import { appPaths } from '../../src/main/core/paths/app-paths.js';
import { ComputerService } from '../../src/main/core/computer/computer-service.js';
import { snapshotThumbnail } from '../../src/main/core/computer/snapshot-thumbnail.js';
import { closeHarness, openHarness, type Harness } from '../support/sandbox-harness.js';

// Method: docs/benchmarks.md, scenario `templates`.

const ROUNDS = 3;
/** Computer-use calls timed per figure. */
const SAMPLES = 10;

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor((values.length - 1) / 2)] ?? NaN;
const round = (n: number) => Number(n.toFixed(1));

/** Builds a template through the same script the test command uses; its JSON line plus the wall time. */
async function build(template: string, env: NodeJS.ProcessEnv): Promise<{ seconds: number; rootfs: string; cached: boolean }> {
  const started = performance.now();
  const { stdout } = await execa(process.execPath, ['--import', 'tsx', 'src/main/cli/build-image.ts', template], { env, stderr: 'inherit' });
  const line = JSON.parse(stdout.trim().split('\n').pop()!) as { rootfs: string; cached: boolean };
  return { ...line, seconds: (performance.now() - started) / 1000 };
}

async function sizes(path: string): Promise<{ apparentMiB: number; allocatedMiB: number }> {
  const info = await stat(path);
  return { apparentMiB: round(info.size / 2 ** 20), allocatedMiB: round((info.blocks * 512) / 2 ** 20) };
}

interface CreateFigures {
  createMs: number;
  bootToReadyMs: number;
  /** Desktop only: the computer-use figures, measured in the last sandbox of the cold run. */
  computer?: { screenshotMs: number; leftClickMs: number; thumbnailMs: number };
}

async function computerLatency(h: Harness, id: string): Promise<NonNullable<CreateFigures['computer']>> {
  const computer = new ComputerService(h.manager);
  // The X server and VNC start after the agent is ready (a cold first boot under TCG can take minutes): wait until a screenshot works.
  const deadline = Date.now() + 600_000;
  for (;;) {
    try {
      await computer.screenshot(id);
      break;
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
  }
  const timed = async (run: () => Promise<unknown>) => {
    const samples: number[] = [];
    for (let i = 0; i < SAMPLES; i++) {
      const started = performance.now();
      await run();
      samples.push(performance.now() - started);
    }
    return round(median(samples));
  };
  return {
    screenshotMs: await timed(() => computer.screenshot(id)),
    leftClickMs: await timed(() => computer.perform(id, { action: 'left_click', x: 640, y: 400 })),
    thumbnailMs: await timed(() => snapshotThumbnail(h.manager, id)),
  };
}

async function createTimes(template: string, warmStart: boolean): Promise<CreateFigures> {
  const base = defaultAppConfig();
  const h = await openHarness(undefined, { ...base, hypervisor: 'qemu', defaults: { template }, snapshots: { ...base.snapshots, warmStart } });
  try {
    const createMs: number[] = [];
    const readyMs: number[] = [];
    let computer: CreateFigures['computer'];
    // The first create of a warm run captures the warm state and is not counted.
    for (let i = 0; i < ROUNDS + (warmStart ? 1 : 0); i++) {
      const started = performance.now();
      const record = await h.manager.create({ name: `bench-tpl-${i}`, template });
      const elapsed = performance.now() - started;
      const info = await (await h.manager.agent(record.id)).info();
      if (!warmStart || i > 0) {
        createMs.push(elapsed);
        readyMs.push(info.bootToReadyMs ?? NaN);
      }
      if (!warmStart && i === ROUNDS - 1 && h.manager.templates.definition(template).display) computer = await computerLatency(h, record.id);
      await h.manager.destroy(record.id);
    }
    return { createMs: round(median(createMs)), bootToReadyMs: round(median(readyMs)), ...(computer ? { computer } : {}) };
  } finally {
    await closeHarness(h);
  }
}

/** One template's figures, keyed with its name in camel case (aiAgent…, desktop…). */
async function templateFigures(template: string, scratchImages: string): Promise<Record<string, number>> {
  const key = template.replace(/-(\w)/g, (_, c: string) => c.toUpperCase());
  const env = { ...process.env, MICROVM_IMAGES_DIR: scratchImages };
  const cold = await build(template, env);
  const cached = await build(template, env);
  const built = await sizes(cold.rootfs);
  await build(template, { ...process.env, MICROVM_IMAGES_DIR: appPaths().images });
  const coldCreate = await createTimes(template, false);
  const warmCreate = await createTimes(template, true);
  return {
    [`${key}BuildColdSeconds`]: round(cold.seconds),
    [`${key}BuildCachedSeconds`]: round(cached.seconds),
    [`${key}RootfsApparentMiB`]: built.apparentMiB,
    [`${key}RootfsAllocatedMiB`]: built.allocatedMiB,
    [`${key}ColdCreateMsMedian`]: coldCreate.createMs,
    [`${key}BootToAgentReadyMsMedian`]: coldCreate.bootToReadyMs,
    [`${key}WarmCreateMsMedian`]: warmCreate.createMs,
    ...(coldCreate.computer
      ? {
          [`${key}ScreenshotMsMedian`]: coldCreate.computer.screenshotMs,
          [`${key}LeftClickMsMedian`]: coldCreate.computer.leftClickMs,
          [`${key}ThumbnailMsMedian`]: coldCreate.computer.thumbnailMs,
        }
      : {}),
  };
}

export async function templatesScenario(): Promise<Record<string, unknown>> {
  // Cold: a fresh images directory per template (the minimal image and Debian downloads
  // come from the network or apt's cache as on a new machine); cached: the same build again.
  const figures: Record<string, number> = {};
  for (const template of ['ai-agent', 'desktop']) {
    const images = await mkdtemp(join(tmpdir(), 'microvm-bench-images-'));
    try {
      Object.assign(figures, await templateFigures(template, images));
    } finally {
      await rm(images, { recursive: true, force: true });
    }
  }
  return figures;
}

import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { defaultAppConfig } from '../../src/main/core/config/app-config.js';
import { appPaths } from '../../src/main/core/paths/app-paths.js';
import { closeHarness, openHarness } from '../support/sandbox-harness.js';

// Method: docs/benchmarks.md, scenario `templates`.

const ROUNDS = 3;

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

async function createTimes(warmStart: boolean): Promise<{ createMs: number; bootToReadyMs: number }> {
  const base = defaultAppConfig();
  const h = await openHarness(undefined, { ...base, hypervisor: 'qemu', defaults: { template: 'ai-agent' }, snapshots: { ...base.snapshots, warmStart } });
  try {
    const createMs: number[] = [];
    const readyMs: number[] = [];
    // The first create of a warm run captures the warm state and is not counted.
    for (let i = 0; i < ROUNDS + (warmStart ? 1 : 0); i++) {
      const started = performance.now();
      const record = await h.manager.create({ name: `bench-tpl-${i}`, template: 'ai-agent' });
      const elapsed = performance.now() - started;
      const info = await (await h.manager.agent(record.id)).info();
      if (!warmStart || i > 0) {
        createMs.push(elapsed);
        readyMs.push(info.bootToReadyMs ?? NaN);
      }
      await h.manager.destroy(record.id);
    }
    return { createMs: round(median(createMs)), bootToReadyMs: round(median(readyMs)) };
  } finally {
    await closeHarness(h);
  }
}

export async function templatesScenario(): Promise<Record<string, unknown>> {
  // Cold: a fresh images directory (the minimal image and Debian downloads come from the
  // network or apt's cache as on a new machine); cached: the same build again.
  const images = await mkdtemp(join(tmpdir(), 'microvm-bench-images-'));
  try {
    const env = { ...process.env, MICROVM_IMAGES_DIR: images };
    const cold = await build('ai-agent', env);
    const cached = await build('ai-agent', env);
    const built = await sizes(cold.rootfs);
    await build('ai-agent', { ...process.env, MICROVM_IMAGES_DIR: appPaths().images });
    const coldCreate = await createTimes(false);
    const warmCreate = await createTimes(true);
    return {
      aiAgentBuildColdSeconds: round(cold.seconds),
      aiAgentBuildCachedSeconds: round(cached.seconds),
      aiAgentRootfsApparentMiB: built.apparentMiB,
      aiAgentRootfsAllocatedMiB: built.allocatedMiB,
      aiAgentColdCreateMsMedian: coldCreate.createMs,
      aiAgentBootToAgentReadyMsMedian: coldCreate.bootToReadyMs,
      aiAgentWarmCreateMsMedian: warmCreate.createMs,
    };
  } finally {
    await rm(images, { recursive: true, force: true });
  }
}

import { defaultAppConfig } from '../../src/main/core/config/app-config.js';
import { minimalImage } from '../support/minimal-vm.js';
import { closeHarness, openHarness, type Harness } from '../support/sandbox-harness.js';

// Method: docs/benchmarks.md, scenario `snapshot`.

const ROUNDS = 5;

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor((sorted.length - 1) / 2)] ?? NaN;
}

const round = (n: number) => Number(n.toFixed(1));

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t = performance.now();
  await fn();
  return performance.now() - t;
}

async function withHarness<T>(warmStart: boolean, fn: (h: Harness) => Promise<T>): Promise<T> {
  const config = { ...defaultAppConfig(), hypervisor: 'qemu' as const, defaults: { template: 'minimal' }, snapshots: { ...defaultAppConfig().snapshots, warmStart } };
  const h = await openHarness(undefined, config);
  try {
    return await fn(h);
  } finally {
    await closeHarness(h);
  }
}

/** Pause, capture time and size against guest memory (with 64 MiB of it dirtied), and restore to agent-ready. */
async function captureAndRestore(memoryMiB: number): Promise<Record<string, number>> {
  return withHarness(false, async (h) => {
    const name = `snap-${memoryMiB}`;
    await h.manager.create({ name, memoryMiB });
    await (await h.manager.agent(name)).run({ shell: 'head -c 67108864 /dev/urandom > /tmp/ballast' });
    const pause: number[] = [];
    const total: number[] = [];
    const size: number[] = [];
    const restore: number[] = [];
    for (let i = 0; i < ROUNDS; i++) {
      let taken: Awaited<ReturnType<Harness['manager']['snapshot']>> | undefined;
      total.push(await timed(async () => (taken = await h.manager.snapshot(name))));
      pause.push(taken!.snapshot.pauseMs);
      size.push(taken!.snapshot.stateBytes / 1024 / 1024);
      restore.push(await timed(async () => (await h.manager.restoreSnapshot(name, taken!.snapshot.id), await (await h.manager.agent(name)).ping())));
    }
    return {
      guestMemoryMiB: memoryMiB,
      pauseMsMedian: round(median(pause)),
      snapshotMsMedian: round(median(total)),
      stateMiB: round(median(size)),
      restoreToAgentReadyMsMedian: round(median(restore)),
    };
  });
}

async function createTimes(warmStart: boolean): Promise<number[]> {
  return withHarness(warmStart, async (h) => {
    // The first create of a shape captures the warm state; it is not what later creates cost.
    await h.manager.create({ name: 'first', memoryMiB: 256 });
    const times: number[] = [];
    for (let i = 0; i < ROUNDS; i++) {
      times.push(await timed(() => h.manager.create({ name: `create-${i}`, memoryMiB: 256 })));
      await h.manager.destroy(`create-${i}`);
    }
    return times;
  });
}

export async function snapshotScenario(): Promise<Record<string, unknown>> {
  await minimalImage();
  const bySize = [];
  for (const memoryMiB of [256, 512, 1024]) bySize.push(await captureAndRestore(memoryMiB));
  const cold = await createTimes(false);
  const warm = await createTimes(true);
  return {
    bySize,
    coldCreateMsMedian: round(median(cold)),
    warmCreateMsMedian: round(median(warm)),
    coldToWarmRatio: round(median(cold) / median(warm)),
  };
}

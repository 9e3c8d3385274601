import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import type { QemuMicrovm } from '../../src/main/core/hypervisor/qemu-microvm-launcher.js';
import { bootMinimalVm, minimalImage } from '../support/minimal-vm.js';
import { openHarness } from '../support/sandbox-harness.js';
import { startTestDaemon } from '../support/daemon-harness.js';
import { call, ok, V1 } from '../api/api-http.js';
import { Sandbox } from '../../src/sdk/index.js';
import { networkScenario } from './network-bench.js';
import { snapshotScenario } from './snapshot-bench.js';
import { templatesScenario } from './templates-bench.js';
import { uiScenario } from './ui-bench.js';
import { readFile, rm } from 'node:fs/promises';

// Method: docs/benchmarks.md. Usage: npm run bench [-- agent]

type Scenario = () => Promise<Record<string, unknown>>;

const scenarios: Record<string, Scenario> = { agent: agentScenario, lifecycle: lifecycleScenario, api: apiScenario, snapshot: snapshotScenario, ui: uiScenario, templates: templatesScenario, network: networkScenario };

function percentile(sorted: number[], p: number): number {
  const i = Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1);
  return sorted[Math.max(0, i)] ?? NaN;
}

const median = (values: number[]) => percentile([...values].sort((a, b) => a - b), 50);
const round = (n: number, digits = 1) => Number(n.toFixed(digits));

async function drain(stream: Readable): Promise<number> {
  let bytes = 0;
  for await (const chunk of stream) bytes += (chunk as Buffer).length;
  return bytes;
}

async function agentScenario(): Promise<Record<string, unknown>> {
  await minimalImage();

  const launchToReady: number[] = [];
  const kernelToReady: number[] = [];
  let accel = '';
  for (let i = 0; i < 5; i++) {
    const vm = await bootMinimalVm({ hostname: `bench${i}` });
    accel = vm.accel;
    launchToReady.push(vm.launchToReadyMs);
    kernelToReady.push((await vm.agent.info()).bootToReadyMs ?? NaN);
    await vm.stop();
  }

  const vm: QemuMicrovm = await bootMinimalVm({ hostname: 'bench' });
  try {
    const rtts: number[] = [];
    for (let i = 0; i < 200; i++) {
      const t = performance.now();
      await vm.agent.run({ argv: ['true'] });
      rtts.push(performance.now() - t);
    }
    rtts.sort((a, b) => a - b);

    const stdoutBytes = 200 * 1024 * 1024;
    let t = performance.now();
    const proc = vm.agent.exec({ shell: `head -c ${stdoutBytes} /dev/zero` });
    const got = await drain(proc.stdout);
    await proc.result;
    const stdoutMBs = got / 1048576 / ((performance.now() - t) / 1000);

    const fileBytes = 100 * 1024 * 1024;
    const data = randomBytes(fileBytes);
    t = performance.now();
    await vm.agent.writeFile('/tmp/bench.bin', Readable.from([data]));
    const uploadMBs = fileBytes / 1048576 / ((performance.now() - t) / 1000);
    t = performance.now();
    const read = await drain(vm.agent.readFile('/tmp/bench.bin'));
    const downloadMBs = read / 1048576 / ((performance.now() - t) / 1000);

    return {
      accel,
      bootLaunchToAgentReadyMsMedian: round(median(launchToReady)),
      bootLaunchToAgentReadyMsAll: launchToReady.map((n) => round(n)),
      guestKernelToAgentReadyMsMedian: round(median(kernelToReady)),
      execTrueRoundTripMsP50: round(percentile(rtts, 50), 2),
      execTrueRoundTripMsP99: round(percentile(rtts, 99), 2),
      stdoutMBps: round(stdoutMBs),
      uploadMBps: round(uploadMBs),
      downloadMBps: round(downloadMBs),
    };
  } finally {
    await vm.stop();
  }
}

async function rssMiB(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/^VmRSS:\s+(\d+) kB$/m.exec(status)?.[1] ?? NaN) / 1024;
}

async function lifecycleScenario(): Promise<Record<string, unknown>> {
  await minimalImage();
  const h = await openHarness();
  const timed = async <T>(fn: () => Promise<T>): Promise<[T, number]> => {
    const t = performance.now();
    const value = await fn();
    return [value, performance.now() - t];
  };
  try {
    const createMs: number[] = [];
    const stopMs: number[] = [];
    const destroyMs: number[] = [];
    for (let i = 0; i < 5; i++) {
      createMs.push((await timed(() => h.manager.create({ name: `cycle-${i}` })))[1]);
      stopMs.push((await timed(() => h.manager.stop(`cycle-${i}`)))[1]);
      destroyMs.push((await timed(() => h.manager.destroy(`cycle-${i}`)))[1]);
    }
    const idle: Record<string, unknown> = {};
    for (const count of [1, 10, 30]) {
      const [records, ms] = await timed(() => Promise.all(Array.from({ length: count }, (_, i) => h.manager.create({ name: `idle-${count}-${i}` }))));
      // Let boot-time work settle before reading resident memory.
      await new Promise((r) => setTimeout(r, 3000));
      const rss = await Promise.all(records.map((r) => rssMiB(r.handle!.pid)));
      idle[`vms${count}`] = {
        createAllMs: round(ms),
        vmmRssMiBMedian: round(median(rss)),
        vmmRssMiBTotal: round(rss.reduce((a, b) => a + b, 0)),
      };
      await Promise.all(records.map((r) => h.manager.destroy(r.id)));
    }
    return {
      createToAgentReadyMsMedian: round(median(createMs)),
      gracefulStopMsMedian: round(median(stopMs)),
      destroyMsMedian: round(median(destroyMs)),
      idle,
    };
  } finally {
    for (const r of h.manager.list()) await h.manager.destroy(r.id).catch(() => undefined);
    h.store.close();
    await rm(h.dir, { recursive: true, force: true });
  }
}

/** p50/p99 of `count` sequential runs of `fn`, after `warmup` untimed ones. */
async function latencies(count: number, fn: () => Promise<unknown>, warmup = 20): Promise<{ p50: number; p99: number }> {
  for (let i = 0; i < warmup; i++) await fn();
  const ms: number[] = [];
  for (let i = 0; i < count; i++) {
    const t = performance.now();
    await fn();
    ms.push(performance.now() - t);
  }
  ms.sort((a, b) => a - b);
  return { p50: round(percentile(ms, 50), 2), p99: round(percentile(ms, 99), 2) };
}

async function apiScenario(): Promise<Record<string, unknown>> {
  await minimalImage();
  const daemon = await startTestDaemon();
  const h = await openHarness();
  try {
    await ok(daemon, 'POST', `${V1}/sandboxes`, { json: { name: 'bench-api', memoryMiB: 256 }, status: 201 });
    const execTrue = () => ok(daemon, 'POST', `${V1}/sandboxes/bench-api/exec`, { json: { argv: ['true'] } });
    const rest = await latencies(200, execTrue);
    const sandbox = await Sandbox.connect('bench-api', { socketPath: daemon.socketPath });
    const sdk = await latencies(200, () => sandbox.exec(['true']));
    const record = await h.manager.create({ name: 'bench-core', memoryMiB: 256 });
    const agent = await h.manager.agent(record.id);
    const core = await latencies(200, () => agent.run({ argv: ['true'] }));

    // 32 clients list sandboxes back to back for 10 s while one client runs execs.
    const listMs: number[] = [];
    const execMs: number[] = [];
    const errors: string[] = [];
    const until = performance.now() + 10_000;
    const loop = async (fn: () => Promise<{ status: number }>, into: number[]) => {
      while (performance.now() < until) {
        const t = performance.now();
        const answer = await fn();
        into.push(performance.now() - t);
        if (answer.status !== 200) errors.push(String(answer.status));
      }
    };
    await Promise.all([
      ...Array.from({ length: 32 }, () => loop(() => call(daemon, 'GET', `${V1}/sandboxes`), listMs)),
      loop(() => call(daemon, 'POST', `${V1}/sandboxes/bench-api/exec`, { json: { argv: ['true'] } }), execMs),
    ]);
    listMs.sort((a, b) => a - b);
    execMs.sort((a, b) => a - b);

    return {
      execTrueRestMsP50: rest.p50,
      execTrueRestMsP99: rest.p99,
      execTrueSdkMsP50: sdk.p50,
      execTrueSdkMsP99: sdk.p99,
      execTrueCoreMsP50: core.p50,
      execTrueCoreMsP99: core.p99,
      restOverCoreP50: round(rest.p50 / core.p50, 2),
      sdkOverCoreP50: round(sdk.p50 / core.p50, 2),
      underLoad: {
        clients: 32,
        seconds: 10,
        listRequests: listMs.length,
        listRequestsPerSecond: round(listMs.length / 10),
        listMsP50: round(percentile(listMs, 50), 2),
        listMsP99: round(percentile(listMs, 99), 2),
        execs: execMs.length,
        execTrueRestMsP50: round(percentile(execMs, 50), 2),
        execTrueRestMsP99: round(percentile(execMs, 99), 2),
        errors: errors.length,
      },
    };
  } finally {
    await call(daemon, 'DELETE', `${V1}/sandboxes/bench-api`);
    const left = await daemon.stop();
    if (left.length) process.stderr.write(`the daemon left VMMs behind: ${left.join(', ')}\n`);
    for (const r of h.manager.list()) await h.manager.destroy(r.id).catch(() => undefined);
    h.store.close();
    await rm(h.dir, { recursive: true, force: true });
  }
}

const wanted = process.argv.slice(2).filter((a) => a !== '--');
const names = wanted.length ? wanted : Object.keys(scenarios);
for (const name of names) {
  const scenario = scenarios[name];
  if (!scenario) {
    process.stderr.write(`unknown scenario "${name}"; known: ${Object.keys(scenarios).join(', ')}\n`);
    process.exit(2);
  }
  process.stderr.write(`running scenario ${name}…\n`);
  const result = await scenario();
  process.stdout.write(`${JSON.stringify({ scenario: name, date: new Date().toISOString(), ...result }, null, 2)}\n`);
}

import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { SANDBOX_STATES } from '../../../shared/api/sandbox-schemas.js';
import type { SandboxRecord } from '../../core/store/sandbox-store.js';
import type { ApiApp, ApiServices } from '../api-context.js';

/**
 * Prometheus metrics at /metrics: the daemon's own (process, requests) and one series per
 * sandbox (state, configured size, and what its VMM process costs the host).
 */
export function registerMetricsRoutes(app: ApiApp, { manager }: ApiServices): void {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'microvm_daemon_' });

  const requests = new Histogram({
    name: 'microvm_http_request_duration_seconds',
    help: 'API request durations',
    labelNames: ['method', 'route', 'status'],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [registry],
  });
  const events = new Counter({ name: 'microvm_sandbox_transitions_total', help: 'Sandbox state changes', labelNames: ['state'], registers: [registry] });
  manager.on('event', (event: { type: string; state?: string }) => {
    if (event.type === 'state' && event.state) events.inc({ state: event.state });
  });

  new Gauge({
    name: 'microvm_sandboxes',
    help: 'Sandboxes by state',
    labelNames: ['state'],
    registers: [registry],
    collect() {
      const counts = new Map<string, number>(SANDBOX_STATES.map((state) => [state, 0]));
      for (const record of manager.list()) counts.set(record.state, (counts.get(record.state) ?? 0) + 1);
      for (const [state, count] of counts) this.set({ state }, count);
    },
  });
  const perSandbox = (name: string, help: string, value: (record: SandboxRecord) => Promise<number | null>) =>
    new Gauge({
      name,
      help,
      labelNames: ['sandbox', 'name'],
      registers: [registry],
      async collect() {
        this.reset();
        for (const record of manager.list()) {
          const v = await value(record);
          if (v !== null) this.set({ sandbox: record.id, name: record.name }, v);
        }
      },
    });
  perSandbox('microvm_sandbox_vcpus', 'Configured vCPUs', async (record) => record.vcpus);
  perSandbox('microvm_sandbox_memory_configured_bytes', 'Configured guest memory', async (record) => record.memoryMiB * 1024 * 1024);
  perSandbox('microvm_vmm_resident_memory_bytes', 'Resident memory of the VMM process', async (record) => (await manager.usage(record.id))?.rssBytes ?? null);
  perSandbox('microvm_vmm_cpu_seconds_total', 'CPU time used by the VMM process', async (record) => (await manager.usage(record.id))?.cpuSeconds ?? null);

  app.addHook('onResponse', async (request, reply) => {
    requests.observe({ method: request.method, route: request.routeOptions.url ?? 'unmatched', status: reply.statusCode }, reply.elapsedTime / 1000);
  });
  app.get('/metrics', { schema: { tags: ['system'], summary: 'Prometheus metrics' } }, async (_request, reply) =>
    reply.type(registry.contentType).send(await registry.metrics()),
  );
}

import { UsageListSchema, type SandboxUsage } from '../../../shared/api/usage-schemas.js';
import { SandboxError } from '../../core/errors/sandbox-error.js';
import type { ApiApp, ApiServices } from '../api-context.js';

/** What each sandbox's VMM costs the host, read once per sandbox per request; the UI polls it for its CPU and memory figures. */
export function registerUsageRoutes(app: ApiApp, { manager }: ApiServices): void {
  app.get(
    '/usage',
    {
      schema: {
        tags: ['sandboxes'],
        summary: "CPU time and resident memory of every sandbox's VMM process (null while it is not running)",
        response: { 200: UsageListSchema },
      },
    },
    async () => {
      const readings = await Promise.all(
        manager.list().map(async (record): Promise<SandboxUsage | null> => {
          try {
            const usage = await manager.usage(record.id);
            return { id: record.id, cpuSeconds: usage?.cpuSeconds ?? null, rssBytes: usage?.rssBytes ?? null };
          } catch (error) {
            // Destroyed between the listing and its reading: it is simply no longer there.
            if (error instanceof SandboxError && error.code === 'not_found') return null;
            throw error;
          }
        }),
      );
      return { at: Date.now(), sandboxes: readings.filter((reading) => reading !== null) };
    },
  );
}

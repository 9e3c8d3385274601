import { HealthSchema, SystemInfoSchema, VersionSchema } from '../../../shared/api/system-schemas.js';
import { agentProtocol } from '../../core/agent/agent-frames.js';
import { systemInfo } from '../../core/system/system-info.js';
import { productVersion } from '../../core/paths/product-version.js';
import type { ApiApp, ApiServices } from '../api-context.js';

const tags = ['system'];

export function registerSystemRoutes(app: ApiApp, { manager, config, startedAt, tcpUrl }: ApiServices): void {
  app.get('/version', { schema: { tags, summary: 'Daemon and protocol versions', response: { 200: VersionSchema } } }, async () => ({
    version: productVersion(),
    apiVersion: 'v1' as const,
    agentProtocol: agentProtocol.version,
    node: process.versions.node,
  }));

  app.get('/health', { schema: { tags, summary: 'Liveness: the daemon answers and its store is readable', response: { 200: HealthSchema } } }, async () => ({
    status: 'ok' as const,
    uptimeMs: Date.now() - startedAt,
    sandboxes: manager.list().length,
    pid: process.pid,
    url: tcpUrl?.() ?? null,
  }));

  app.get(
    '/system',
    { schema: { tags, summary: 'Hypervisor choice, limits and free host resources', response: { 200: SystemInfoSchema } } },
    async () => {
      // The probe boots the default template's kernel to tell a working KVM from a broken one.
      const image = await manager.templates.image(await manager.templates.defaultName(config.defaults.template));
      return { version: productVersion(), ...(await systemInfo(config, image.kernel)) };
    },
  );
}

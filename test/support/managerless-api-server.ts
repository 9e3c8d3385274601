import { EventEmitter } from 'node:events';
import { join } from 'node:path';
import { pino } from 'pino';
import type { ApiApp } from '../../src/main/api/api-context.js';
import { buildApiServer } from '../../src/main/api/api-server.js';
import { ApiToken } from '../../src/main/api/api-token.js';
import { AuditLog } from '../../src/main/api/audit-log.js';
import { defaultAppConfig } from '../../src/main/core/config/app-config.js';
import { PortForwards } from '../../src/main/core/network/port-forwards.js';
import type { SandboxManager } from '../../src/main/core/sandbox/sandbox-manager.js';

/**
 * The API server without a working manager, its token and audit log in `dir`: for tests
 * that read the route table or answer requests that never reach a sandbox.
 */
export function buildManagerlessApiServer(dir: string, options: { uiDir?: string } = {}): Promise<ApiApp> {
  const manager = new EventEmitter() as unknown as SandboxManager;
  return buildApiServer({
    manager,
    ports: new PortForwards(manager),
    config: defaultAppConfig(),
    logger: pino({ level: 'silent' }),
    token: new ApiToken(join(dir, 'token')),
    audit: new AuditLog(join(dir, 'audit.log')),
    startedAt: Date.now(),
    ...options,
  });
}

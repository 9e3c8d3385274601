import type { FastifyBaseLogger, FastifyInstance, RawReplyDefaultExpression, RawRequestDefaultExpression, RawServerDefault } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { AppConfig } from '../core/config/app-config.js';
import type { PortForwards } from '../core/network/port-forwards.js';
import type { SandboxManager } from '../core/sandbox/sandbox-manager.js';

/** The Fastify instance every route module registers on, typed by the TypeBox schemas. */
export type ApiApp = FastifyInstance<
  RawServerDefault,
  RawRequestDefaultExpression<RawServerDefault>,
  RawReplyDefaultExpression<RawServerDefault>,
  FastifyBaseLogger,
  TypeBoxTypeProvider
>;

/** The core services the API is a front door to. */
export interface ApiServices {
  manager: SandboxManager;
  config: AppConfig;
  /** Host → guest port forwards; the daemon stops them when it closes. */
  ports: PortForwards;
  /** When the daemon started, for /health. */
  startedAt: number;
  /** The TCP listener's address once it listens, for /health. */
  tcpUrl?: () => string | null;
}

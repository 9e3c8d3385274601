import { chmod, mkdir, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { connect } from 'node:net';
import { dirname } from 'node:path';
import { pino, type Logger } from 'pino';
import { loadAppConfig } from '../core/config/app-config.js';
import { SandboxError } from '../core/errors/sandbox-error.js';
import { hypervisorDrivers } from '../core/hypervisor/hypervisor-drivers.js';
import { PortForwards } from '../core/network/port-forwards.js';
import { daemonPaths } from '../core/paths/app-paths.js';
import { SandboxManager } from '../core/sandbox/sandbox-manager.js';
import { defaultStorePath, SandboxStore } from '../core/store/sandbox-store.js';
import type { ApiApp } from './api-context.js';
import { buildApiServer } from './api-server.js';
import { ApiToken } from './api-token.js';
import { AuditLog } from './audit-log.js';

export interface DaemonOptions {
  socketPath?: string;
  /** Also listen on TCP, bearer token required. Loopback unless host says otherwise. */
  tcp?: {
    host: string;
    port: number;
    /** When the port is taken, listen on a free one instead of failing. */
    anyPortIfTaken?: boolean;
  };
  logger?: Logger;
}

export interface RunningDaemon {
  app: ApiApp;
  manager: SandboxManager;
  socketPath: string;
  /** The TCP address when listening on one, e.g. http://127.0.0.1:7777. */
  url: string | null;
  token: ApiToken;
  /** Stops listening and lets go of the VMs (a later daemon adopts them). */
  close(): Promise<void>;
}

/**
 * `microvm serve`: one daemon per user owns the store and the VMs, and serves the API on
 * a 0600 Unix socket (and optionally loopback TCP with a token). A second daemon refuses
 * to start while the first answers on the socket, so two never drive the same VMs.
 */
export async function startDaemon(options: DaemonOptions = {}): Promise<RunningDaemon> {
  const paths = daemonPaths();
  const socketPath = options.socketPath ?? paths.socket;
  // Logs go to stderr, as docs/api.md says: stdout stays free for what a command prints.
  const logger = options.logger ?? pino({ level: process.env.MICROVM_LOG_LEVEL ?? 'info', base: { pid: process.pid } }, pino.destination(2));
  await claimSocket(socketPath);

  const config = loadAppConfig();
  const store = SandboxStore.open(defaultStorePath());
  let manager: SandboxManager;
  try {
    manager = await SandboxManager.open({ store, config, drivers: hypervisorDrivers(config) });
  } catch (error) {
    store.close();
    throw error;
  }
  const token = new ApiToken(paths.token);
  let url: string | null = null;
  const ports = new PortForwards(manager, logger);
  const app = await buildApiServer({ manager, config, ports, logger, token, audit: new AuditLog(paths.audit), startedAt: Date.now(), tcpUrl: () => url, socketPath });

  const previousUmask = process.umask(0o177);
  try {
    await app.listen({ path: socketPath });
  } finally {
    process.umask(previousUmask);
  }
  await chmod(socketPath, 0o600);

  let tcp: Server | null = null;
  if (options.tcp) {
    const { host, port, anyPortIfTaken } = options.tcp;
    token.current();
    const server = createServer((request, response) => app.routing(request, response));
    // WebSocket upgrades go through the same routes and hooks as the Unix socket's.
    server.on('upgrade', (request, socket, head) => app.server.emit('upgrade', request, socket, head));
    tcp = server;
    try {
      const listening = await listenTcp(server, host, port).catch((error: SandboxError) => {
        if (error.code === 'already_exists' && anyPortIfTaken && port !== 0) return listenTcp(server, host, 0);
        throw error;
      });
      url = `http://${host.includes(':') ? `[${host}]` : host}:${listening}`;
    } catch (error) {
      await ports.stop();
      await app.close();
      manager.close();
      store.close();
      await rm(socketPath, { force: true });
      throw error;
    }
  }
  logger.info({ socket: socketPath, url }, 'daemon listening');

  let closing: Promise<void> | null = null;
  return {
    app,
    manager,
    socketPath,
    url,
    token,
    close: () =>
      (closing ??= (async () => {
        tcp?.closeAllConnections();
        await new Promise<void>((resolve) => (tcp ? tcp.close(() => resolve()) : resolve()));
        // In-memory only: the next daemon starts without forwards, and their ports are free meanwhile.
        await ports.stop();
        await app.close();
        manager.close();
        store.close();
        await rm(socketPath, { force: true });
      })()),
  };
}

/** Listens on host:port and answers the port it got (0 picks a free one). */
function listenTcp(server: Server, host: string, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const failed = (error: NodeJS.ErrnoException) =>
      reject(new SandboxError(error.code === 'EADDRINUSE' ? 'already_exists' : 'internal', `cannot listen on ${host}:${port}: ${error.message}`));
    server.once('error', failed);
    server.listen(port, host, () => {
      server.off('error', failed);
      const address = server.address();
      resolve(typeof address === 'object' && address ? address.port : port);
    });
  });
}

/** Makes the socket path ours: refuses while another daemon answers there, removes a stale socket. */
async function claimSocket(path: string): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  const answers = await new Promise<boolean>((resolve) => {
    const probe = connect(path);
    probe.once('connect', () => {
      probe.destroy();
      resolve(true);
    });
    probe.once('error', () => resolve(false));
  });
  if (answers) throw new SandboxError('already_exists', `a daemon is already running on ${path}`);
  await rm(path, { force: true });
}

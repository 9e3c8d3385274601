import { createServer, type Server, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { SandboxEvent } from '../../../shared/api/event-schemas.js';
import type { CallOptions } from '../agent/agent-types.js';
import { SandboxError } from '../errors/sandbox-error.js';
import type { SandboxRecord } from '../store/sandbox-store.js';
import { checkForwardRequest, forwardUrl, type ForwardRequest } from './forward-request.js';
import { spliceSocket } from './socket-splice.js';

/** What forwards need of the sandbox manager: the sandbox, its agent's TCP forward, and its events. */
export interface ForwardTarget {
  /** Throws not_found. */
  get(idOrName: string): SandboxRecord;
  /** Throws invalid_state unless the sandbox runs. */
  agent(id: string): Promise<{ tcpConnect(port: number, host?: string, options?: CallOptions): Promise<Duplex> }>;
  on(event: 'event', listener: (event: SandboxEvent) => void): unknown;
  off(event: 'event', listener: (event: SandboxEvent) => void): unknown;
}

export interface ForwardLog {
  debug(fields: Record<string, unknown>, message: string): void;
}

export interface PortForwardInfo {
  sandboxId: string;
  sandboxName: string;
  guestPort: number;
  hostPort: number;
  address: string;
  url: string;
  createdAt: string;
}

interface Forward {
  sandboxId: string;
  guestPort: number;
  hostPort: number;
  address: string;
  createdAt: number;
  server: Server;
  connections: Set<Socket>;
}

/** How often a system-picked port that another forward already holds (on another address) is given back and picked again. */
const PICK_ATTEMPTS = 5;

/**
 * Host → guest port forwards. Each forward listens on a host address and port; every
 * connection it accepts gets its own `tcp.connect` to 127.0.0.1:guestPort in the guest,
 * through the agent, so a forward needs no guest network at all. A host port names one
 * forward in the whole daemon. Forwards are kept in memory only: they outlive stops and
 * pauses of their sandbox (connections made meanwhile are closed at once), end with its
 * destruction, and end when the daemon stops.
 */
export class PortForwards {
  private readonly forwards = new Map<number, Forward>();
  /** Host ports asked for by adds still opening their listener. */
  private readonly opening = new Set<number>();
  private stopped = false;

  constructor(
    private readonly target: ForwardTarget,
    private readonly log: ForwardLog = { debug: () => undefined },
  ) {
    target.on('event', this.onEvent);
  }

  async add(sandbox: string, request: ForwardRequest): Promise<PortForwardInfo> {
    const record = this.target.get(sandbox);
    const valid = checkForwardRequest(request);
    if (this.stopped) throw new SandboxError('invalid_state', 'the daemon is shutting down and opens no port forwards');
    if (valid.hostPort !== 0) {
      this.ensureFree(valid.hostPort, valid.address);
      this.opening.add(valid.hostPort);
    }
    let server: Server;
    let hostPort: number;
    try {
      ({ server, hostPort } = await this.open(valid.address, valid.hostPort, valid.guestPort));
    } finally {
      if (valid.hostPort !== 0) this.opening.delete(valid.hostPort);
    }
    // The sandbox may have been destroyed, or the daemon begun to stop, while the listener opened.
    if (this.stopped || !this.exists(record.id)) {
      await closeServer(server);
      if (this.stopped) throw new SandboxError('invalid_state', 'the daemon is shutting down and opens no port forwards');
      throw new SandboxError('not_found', `sandbox "${record.name}" was destroyed while its port forward opened`);
    }
    const forward: Forward = { sandboxId: record.id, guestPort: valid.guestPort, hostPort, address: valid.address, createdAt: Date.now(), server, connections: new Set() };
    server.on('connection', (socket: Socket) => this.accept(forward, socket));
    this.forwards.set(hostPort, forward);
    return this.view(forward);
  }

  /** Every forward, or one sandbox's, by host port. */
  list(sandbox?: string): PortForwardInfo[] {
    const only = sandbox === undefined ? null : this.target.get(sandbox).id;
    return [...this.forwards.values()]
      .filter((forward) => only === null || forward.sandboxId === only)
      .sort((a, b) => a.hostPort - b.hostPort)
      .map((forward) => this.view(forward));
  }

  /** Stops listening and closes the forward's open connections; the port is free when this resolves. */
  async remove(sandbox: string, hostPort: number): Promise<void> {
    const record = this.target.get(sandbox);
    const forward = this.forwards.get(hostPort);
    if (!forward || forward.sandboxId !== record.id) {
      throw new SandboxError('not_found', `sandbox "${record.name}" has no port forward on host port ${hostPort}`, { hostPort });
    }
    await this.close(forward);
  }

  /** Closes every forward, for the daemon's shutdown: their ports are free when this resolves. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.target.off('event', this.onEvent);
    await Promise.all([...this.forwards.values()].map((forward) => this.close(forward)));
  }

  /** A listener on a host port no other forward holds; a system-picked port another address already uses for a forward is picked again. */
  private async open(address: string, asked: number, guestPort: number): Promise<{ server: Server; hostPort: number }> {
    for (let attempt = 1; ; attempt++) {
      const server = createServer({ allowHalfOpen: true, pauseOnConnect: true });
      const hostPort = await listen(server, address, asked, guestPort);
      const taken = this.forwards.has(hostPort) || (asked === 0 && this.opening.has(hostPort));
      if (!taken) return { server, hostPort };
      await closeServer(server);
      if (asked !== 0 || attempt >= PICK_ATTEMPTS) this.ensureFree(hostPort, address);
    }
  }

  private readonly onEvent = (event: SandboxEvent): void => {
    if (event.type !== 'state' || this.exists(event.id)) return;
    // Synchronously: the listeners are closed (their ports free) before destroy() answers.
    for (const forward of [...this.forwards.values()]) if (forward.sandboxId === event.id) void this.close(forward);
  };

  private accept(forward: Forward, socket: Socket): void {
    forward.connections.add(socket);
    const abandoned = new AbortController();
    socket.once('close', () => {
      forward.connections.delete(socket);
      abandoned.abort();
    });
    // Errors before the splice (a client that resets at once) are the client's own business.
    socket.on('error', () => undefined);
    const context = { sandboxId: forward.sandboxId, hostPort: forward.hostPort, guestPort: forward.guestPort };
    this.target
      .agent(forward.sandboxId)
      .then((agent) => agent.tcpConnect(forward.guestPort, '127.0.0.1', { signal: abandoned.signal }))
      .then(
        (tunnel) => {
          if (socket.destroyed) tunnel.destroy();
          else spliceSocket(socket, tunnel);
        },
        (error: unknown) => {
          // Nothing listening in the guest, or the sandbox not running: the client sees a reset, as from a closed port.
          this.log.debug({ ...context, err: error }, 'port forward connection refused');
          if (!socket.destroyed) socket.resetAndDestroy();
        },
      );
  }

  private async close(forward: Forward): Promise<void> {
    if (this.forwards.get(forward.hostPort) === forward) this.forwards.delete(forward.hostPort);
    const closed = closeServer(forward.server);
    for (const socket of forward.connections) socket.destroy();
    await closed;
  }

  private ensureFree(hostPort: number, address: string): void {
    const holder = this.forwards.get(hostPort);
    if (!holder && !this.opening.has(hostPort)) return;
    const owner = holder ? this.nameOf(holder.sandboxId) : null;
    throw new SandboxError(
      'port_in_use',
      `hostPort: host port ${hostPort} is taken by ${owner ? `a port forward of sandbox "${owner}" (${holder!.address}:${hostPort} → guest port ${holder!.guestPort})` : 'another port forward being opened'}; cannot listen on ${address}:${hostPort}`,
      { field: 'hostPort', hostPort },
    );
  }

  private exists(id: string): boolean {
    try {
      this.target.get(id);
      return true;
    } catch {
      return false;
    }
  }

  private nameOf(id: string): string {
    try {
      return this.target.get(id).name;
    } catch {
      return id;
    }
  }

  private view(forward: Forward): PortForwardInfo {
    return {
      sandboxId: forward.sandboxId,
      sandboxName: this.nameOf(forward.sandboxId),
      guestPort: forward.guestPort,
      hostPort: forward.hostPort,
      address: forward.address,
      url: forwardUrl(forward.address, forward.hostPort),
      createdAt: new Date(forward.createdAt).toISOString(),
    };
  }
}

/** Listens and answers the port it got, or a SandboxError saying why it cannot. */
function listen(server: Server, address: string, hostPort: number, guestPort: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const failed = (error: NodeJS.ErrnoException) => reject(listenFailure(error, address, hostPort, guestPort));
    server.once('error', failed);
    server.listen({ host: address, port: hostPort, exclusive: true }, () => {
      server.off('error', failed);
      const bound = server.address();
      resolve(typeof bound === 'object' && bound ? bound.port : hostPort);
    });
  });
}

function listenFailure(error: NodeJS.ErrnoException, address: string, hostPort: number, guestPort: number): SandboxError {
  const where = `${address}:${hostPort}`;
  switch (error.code) {
    case 'EADDRINUSE':
      return new SandboxError('port_in_use', `hostPort: ${where} is already in use on this host; pick another host port, or omit it for a free one`, { field: 'hostPort', hostPort });
    case 'EADDRNOTAVAIL':
      return new SandboxError('invalid_argument', `address: ${address} is not an address of this host, so no forward can listen on it`, { field: 'address' });
    case 'EACCES':
      return new SandboxError('invalid_argument', `hostPort: listening on ${where} needs privileges this daemon lacks; pick a port above 1023, or omit it for a free one`, { field: 'hostPort' });
    default:
      return new SandboxError('internal', `cannot listen on ${where} to forward guest port ${guestPort}: ${error.message}`);
  }
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    if (!server.listening) return resolve();
    server.close(() => resolve());
  });
}

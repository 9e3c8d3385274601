import { startDaemon, type DaemonOptions, type RunningDaemon } from '../api/api-daemon.js';
import { daemonPaths } from '../core/paths/app-paths.js';
import { SandboxError } from '../core/errors/sandbox-error.js';
import { MicrovmClient } from '../../sdk/index.js';

export interface DaemonConnection {
  /** The SDK client main talks through, whichever daemon answers. */
  client: MicrovmClient;
  /** The daemon this process hosts, or null when it connected to one already running. */
  hosted: RunningDaemon | null;
  /** Lets go of a hosted daemon (its VMs keep running; a later daemon adopts them). */
  close(): Promise<void>;
}

export interface DaemonConnectionOptions {
  socketPath?: string;
  /** Starts the in-process daemon; startDaemon unless a test says otherwise. */
  host?: (options: DaemonOptions) => Promise<RunningDaemon>;
}

/**
 * One source of truth for the VMs: the daemon already answering on the Unix socket (one
 * the CLI started, say), or else one hosted in this process on that socket. Either way
 * main talks to it through the SDK, exactly as any other client would. Two daemons never
 * drive the same VMs: startDaemon refuses a socket somebody answers on, and losing that
 * race means connecting to the winner.
 */
export async function connectOrHostDaemon(options: DaemonConnectionOptions = {}): Promise<DaemonConnection> {
  const socketPath = options.socketPath ?? daemonPaths().socket;
  const host = options.host ?? startDaemon;
  const client = new MicrovmClient({ socketPath });
  if (await client.answers()) return { client, hosted: null, close: async () => undefined };
  let hosted: RunningDaemon;
  try {
    hosted = await host({ socketPath });
  } catch (error) {
    if (error instanceof SandboxError && error.code === 'already_exists' && (await client.answers())) {
      return { client, hosted: null, close: async () => undefined };
    }
    throw error;
  }
  return { client, hosted, close: () => hosted.close() };
}

import type { DisplaySession } from '../../../shared/api/display-schemas';
import type { FileList } from '../../../shared/api/file-schemas';
import type { PortForward, PortForwardList } from '../../../shared/api/port-schemas';
import type { Sandbox, SandboxList } from '../../../shared/api/sandbox-schemas';
import type { SystemInfo, Version } from '../../../shared/api/system-schemas';
import type { TemplateList } from '../../../shared/api/template-schemas';
import type { UsageList } from '../../../shared/api/usage-schemas';
import { AppError, type AppApi, type DisplayInfo, type LifecycleAction } from '../../../shared/app-contract';
import { followSerialConsole } from './console-follow';
import { DaemonHttp, segment } from './daemon-http';
import { watchDaemonEvents } from './event-stream';
import { downloadGuestFile } from './file-download';
import { absoluteGuestPath } from './guest-path';
import { SnapshotCalls } from './snapshot-calls';
import { openDisplaySocket } from './display-socket';
import { openTerminalSocket } from './terminal-socket';
import { startUploads } from './upload-queue';

const LIFECYCLE_ACTIONS: readonly LifecycleAction[] = ['start', 'stop', 'pause', 'resume', 'restart'];

export interface DaemonAppApiOptions {
  /** Where the daemon answers; the page's own origin by default (browser mode is same-origin). */
  baseUrl?: string;
}

/**
 * The contract in browser mode: the daemon that served the page, over HTTP, Server-Sent
 * Events and WebSocket. The daemon validates; this only refuses what it could not judge.
 */
export function createDaemonAppApi(options: DaemonAppApiOptions = {}): AppApi {
  const http = new DaemonHttp((options.baseUrl ?? location.origin).replace(/\/+$/, ''));
  const snapshots = new SnapshotCalls(http);
  const sandbox = (id: string) => `/sandboxes/${segment(id)}`;

  return {
    async appInfo() {
      const { version } = await http.request<Version>('GET', '/version');
      return { name: 'MicroVM Sandbox', version, shell: 'browser', daemon: http.origin };
    },
    system: () => http.request<SystemInfo>('GET', '/system'),
    templates: async () => (await http.request<TemplateList>('GET', '/templates')).templates,

    listSandboxes: async () => (await http.request<SandboxList>('GET', '/sandboxes')).sandboxes,
    createSandbox: (request) => http.request<Sandbox>('POST', '/sandboxes', { json: request }),
    async sandboxAction(id, action) {
      // Any other word would reach another route (POST …/snapshots takes a snapshot).
      if (!LIFECYCLE_ACTIONS.includes(action)) {
        throw new AppError('invalid_argument', `action: "${String(action)}" is not one of ${LIFECYCLE_ACTIONS.join(', ')}`);
      }
      return http.request<Sandbox>('POST', `${sandbox(id)}/${action}`);
    },
    async deleteSandbox(id) {
      await http.request('DELETE', sandbox(id));
    },
    usage: () => http.request<UsageList>('GET', '/usage'),
    watchEvents: (onEvent, onConnection) => watchDaemonEvents(http.url('/events'), onEvent, onConnection),

    openTerminal: (id, terminalOptions, onEvent) => openTerminalSocket(http, id, terminalOptions, onEvent),
    followConsole: (id, onData, onEnd) => followSerialConsole(http, id, onData, onEnd),

    async listFiles(id, path) {
      absoluteGuestPath('path', path);
      return (await http.request<FileList>('GET', `${sandbox(id)}/files`, { query: { path } })).entries;
    },
    async makeDirectory(id, path) {
      absoluteGuestPath('path', path);
      await http.request('POST', `${sandbox(id)}/files/mkdir`, { json: { path } });
    },
    async removePath(id, path) {
      absoluteGuestPath('path', path);
      await http.request('DELETE', `${sandbox(id)}/files`, { query: { path, recursive: true } });
    },
    downloadFile: (id, path) => downloadGuestFile(http, id, path),
    uploadFiles: (id, destDir, items, onProgress) => startUploads(http, id, destDir, items, onProgress),

    snapshotTree: (id) => snapshots.tree(id),
    takeSnapshot: (id, name) => snapshots.take(id, name),
    restoreSnapshot: (id, snapshotId) => snapshots.restore(id, snapshotId),
    forkSnapshot: (id, snapshotId, name) => snapshots.fork(id, snapshotId, name),
    deleteSnapshot: (id, snapshotId) => snapshots.delete(id, snapshotId),

    async display(id): Promise<DisplayInfo> {
      try {
        // The token goes unused (it expires within a minute): openDisplay asks for its own.
        const session = await http.request<DisplaySession>('POST', `${sandbox(id)}/display`);
        return { available: true, size: { width: session.width, height: session.height } };
      } catch (error) {
        // No display, or not running: a state to show, not a failure. An unknown sandbox still fails.
        const failure = AppError.from(error);
        if (failure.code === 'no_display' || failure.code === 'invalid_state') return { available: false, reason: failure.message };
        throw failure;
      }
    },
    openDisplay: (id, onEvent) => openDisplaySocket(http, id, onEvent),

    listPorts: async (id) => (await http.request<PortForwardList>('GET', `${sandbox(id)}/ports`)).ports,
    addPort: (id, request) => http.request<PortForward>('POST', `${sandbox(id)}/ports`, { json: request }),
    async removePort(id, hostPort) {
      // It becomes a path segment: anything but a port number would name another route.
      if (!Number.isInteger(hostPort) || hostPort < 1 || hostPort > 65_535) {
        throw new AppError('invalid_argument', `hostPort: ${String(hostPort)} is not a TCP port (1-65535)`);
      }
      await http.request('DELETE', `${sandbox(id)}/ports/${hostPort}`);
    },
  };
}

import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectOrHostDaemon, type DaemonConnection } from '../../src/main/electron/daemon-connection.js';
import { createSdkAppApi } from '../../src/main/electron/sdk-app-api.js';
import { SandboxError } from '../../src/main/core/errors/sandbox-error.js';
import { appPaths } from '../../src/main/core/paths/app-paths.js';
import { startTestDaemon, type TestDaemon } from '../support/daemon-harness.js';

// Main's one source of truth: the daemon that answers on the socket, else one it hosts.
describe('with a daemon already running', () => {
  let daemon: TestDaemon;
  beforeAll(async () => {
    daemon = await startTestDaemon();
  });
  afterAll(async () => {
    if (daemon) expect(await daemon.stop()).toEqual([]);
  });

  it('connects to it and hosts nothing', async () => {
    const connection = await connectOrHostDaemon({
      socketPath: daemon.socketPath,
      host: () => Promise.reject(new Error('must not host a second daemon')),
    });
    expect(connection.hosted).toBeNull();
    expect(connection.client.target).toBe(`unix:${daemon.socketPath}`);
    expect((await connection.client.health()).status).toBe('ok');
    await connection.close();
    expect((await connection.client.health()).status).toBe('ok');
  });
});

describe('with no daemon running', () => {
  let dataDir: string;
  let socketPath: string;
  const saved = { ...process.env };

  beforeAll(async () => {
    // The in-process daemon reads its directories from the environment: a throwaway one, sharing the built images.
    dataDir = await mkdtemp(join(tmpdir(), 'electron-hosted-'));
    await mkdir(join(dataDir, 'config'), { recursive: true });
    await writeFile(join(dataDir, 'config', 'config.json'), JSON.stringify({ hypervisor: 'qemu', defaults: { template: 'minimal' } }));
    process.env.MICROVM_IMAGES_DIR = appPaths().images;
    process.env.MICROVM_DATA_DIR = dataDir;
    process.env.MICROVM_LOG_LEVEL = 'warn';
    delete process.env.MICROVM_SOCKET;
    socketPath = join(dataDir, 'run', 'api.sock');
  });

  afterAll(async () => {
    process.env = saved;
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  it('hosts one in this process; a second app connects to it; closing it frees the socket', async () => {
    const first = await connectOrHostDaemon({ socketPath });
    expect(first.hosted).not.toBeNull();
    expect(first.hosted!.socketPath).toBe(socketPath);
    expect((await first.client.health()).status).toBe('ok');

    const second = await connectOrHostDaemon({ socketPath });
    expect(second.hosted).toBeNull();
    expect((await second.client.request<{ sandboxes: unknown[] }>('GET', '/sandboxes')).sandboxes).toEqual([]);

    // The app's own streams end first, so the daemon has nothing open to wait for.
    const api = createSdkAppApi({ client: first.client, name: 'test', version: '0', chooseSavePath: async () => null });
    const connected: boolean[] = [];
    api.watchEvents(() => undefined, (up) => connected.push(up));
    const consoleEnds: unknown[] = [];
    api.followConsole('no-such-sandbox', () => undefined, (error) => consoleEnds.push(error));
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(connected).toEqual([true]);
    expect(consoleEnds).toEqual([{ code: 'not_found', message: expect.stringContaining('no-such-sandbox') }]);
    api.closeStreams();
    await first.close();
    expect(existsSync(socketPath)).toBe(false);
    await expect(second.client.health()).rejects.toMatchObject({ code: 'daemon_unreachable' });
  });

  it('connects to the winner when another daemon claims the socket between the probe and the claim', async () => {
    let winner: DaemonConnection | undefined;
    try {
      const loser = await connectOrHostDaemon({
        socketPath,
        // The race, played out: nobody answered the probe, then another daemon took the socket first.
        host: async () => {
          winner = await connectOrHostDaemon({ socketPath });
          throw new SandboxError('already_exists', `a daemon is already running on ${socketPath}`);
        },
      });
      expect(winner?.hosted).not.toBeNull();
      expect(loser.hosted).toBeNull();
      expect((await loser.client.health()).status).toBe('ok');
    } finally {
      await winner?.close();
    }
    await expect(connectOrHostDaemon({ socketPath, host: () => Promise.reject(new Error('no VMs here')) })).rejects.toThrow('no VMs here');
  });
});

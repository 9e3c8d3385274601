import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import { connect, createServer, type Socket } from 'node:net';
import { join } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { SandboxError } from '../../errors/sandbox-error.js';
import type { QmpClient } from './qmp-client.js';

export interface WrittenState {
  size: number;
  sha256: string;
}

interface MigrationStatus {
  status?: string;
  'error-desc'?: string;
}

const POLL_MS = 10;
/** Local migration must not be throttled to QEMU's default WAN-friendly bandwidth. */
const UNLIMITED_BYTES_PER_SECOND = 64 * 1024 * 1024 * 1024;

/**
 * Saves a (paused) QEMU's device and memory state to a file. QEMU 7.2 has no `file:`
 * migration target, and `exec:` would hand a shell a command string, so QEMU migrates
 * to a Unix socket this process listens on and writes through to the file, hashing it
 * on the way.
 */
export async function migrateToFile(qmp: QmpClient, runDir: string, file: string): Promise<WrittenState> {
  const socketPath = join(runDir, 'migrate-out.sock');
  await rm(socketPath, { force: true });
  const hash = createHash('sha256');
  let size = 0;
  const server = createServer();
  const written = new Promise<void>((resolve, reject) => {
    server.once('connection', (socket: Socket) => {
      server.close();
      const meter = new Transform({
        transform(chunk: Buffer, _encoding, done) {
          hash.update(chunk);
          size += chunk.length;
          done(null, chunk);
        },
      });
      pipeline(socket, meter, createWriteStream(file, { mode: 0o600 })).then(resolve, reject);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(socketPath, resolve);
  });
  try {
    // Settled at once so a failed write is never an unhandled rejection; it is reported below.
    const received = written.then(() => null, (error: NodeJS.ErrnoException) => error);
    await qmp.execute('migrate-set-parameters', { 'max-bandwidth': UNLIMITED_BYTES_PER_SECOND });
    await qmp.execute('migrate', { uri: `unix:${socketPath}` });
    const migrated = await waitForMigration(qmp, 'saving the VM state').then(() => null, (error: Error) => error);
    const writeError = migrated ? await Promise.race([received, sleep(1_000).then(() => null)]) : await received;
    if (writeError?.code === 'ENOSPC') throw new SandboxError('insufficient_space', `the disk filled up while saving the VM state to ${file}`);
    if (writeError) throw new SandboxError('hypervisor_error', `saving the VM state to ${file} failed: ${writeError.message}`);
    if (migrated) throw migrated;
  } finally {
    server.close();
    await rm(socketPath, { force: true });
  }
  return { size, sha256: hash.digest('hex') };
}

/** Feeds a saved state into a QEMU started with `-incoming defer`; it ends paused. */
export async function migrateFromFile(qmp: QmpClient, runDir: string, file: string): Promise<void> {
  const socketPath = join(runDir, 'migrate-in.sock');
  await rm(socketPath, { force: true });
  await qmp.execute('migrate-incoming', { uri: `unix:${socketPath}` });
  const socket = await connectWhenListening(socketPath);
  try {
    // QEMU closes its end once it has the whole state, which can end the pipe early: the
    // migration status, not the pipe, says whether loading worked.
    const sent = pipeline(createReadStream(file), socket).catch(() => undefined);
    await waitForMigration(qmp, 'loading the VM state');
    await sent;
  } finally {
    socket.destroy();
    await rm(socketPath, { force: true });
  }
}

async function waitForMigration(qmp: QmpClient, what: string): Promise<void> {
  for (;;) {
    const status = await qmp.execute<MigrationStatus>('query-migrate');
    if (status.status === 'completed') return;
    if (status.status === 'failed' || status.status === 'cancelled') {
      throw new SandboxError('hypervisor_error', `QEMU failed ${what}: ${status['error-desc'] ?? status.status}`);
    }
    await sleep(POLL_MS);
  }
}

async function connectWhenListening(path: string): Promise<Socket> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await new Promise<Socket>((resolve, reject) => {
        const socket = connect(path);
        socket.once('connect', () => resolve(socket));
        socket.once('error', reject);
      });
    } catch (error) {
      if (attempt > 200) throw new SandboxError('hypervisor_error', `QEMU did not listen for the incoming state: ${(error as Error).message}`);
      await sleep(POLL_MS);
    }
  }
}

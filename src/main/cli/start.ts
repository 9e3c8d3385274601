import { execa } from 'execa';
import { pino } from 'pino';
import { MicrovmClient, MicrovmError } from '../../sdk/index.js';
import { ApiToken } from '../api/api-token.js';
import { buildMinimalImage } from '../core/images/minimal-image-builder.js';
import { daemonPaths } from '../core/paths/app-paths.js';
import { CliError, exitWithError, UsageError } from './cli-failure.js';
import { browserModeLine } from './commands/serve-command.js';
import { electronAvailability } from './electron-availability.js';
import { progressPrinter } from './progress-printer.js';
import { buildUi, uiBuildIsCurrent } from './ui-build.js';

const DEFAULT_PORT = 7770;

/** MICROVM_PORT, when set: the one port browser mode must use (0 lets the system pick). */
function requestedPort(env: NodeJS.ProcessEnv = process.env): number | undefined {
  const raw = env.MICROVM_PORT;
  if (raw === undefined || raw === '') return undefined;
  const port = Number(raw);
  if (!/^\d+$/.test(raw) || port > 65535) throw new UsageError(`MICROVM_PORT=${raw}: expected a TCP port number, 0-65535 (0 picks a free one)`);
  return port;
}

/**
 * One daemon per user: when one already answers on the socket, it is the one to use. It
 * serves browser mode itself if it listens on TCP; otherwise it has to be stopped first.
 */
async function useRunningDaemon(): Promise<boolean> {
  const { socket, token } = daemonPaths();
  let health;
  try {
    health = await new MicrovmClient({ socketPath: socket }).health();
  } catch (error) {
    if (error instanceof MicrovmError && error.code === 'daemon_unreachable') return false;
    throw error;
  }
  const which = health.pid === undefined ? `on ${socket}` : `(pid ${health.pid}) on ${socket}`;
  if (health.url) {
    process.stdout.write(`A daemon is already running ${which}. ${browserModeLine(health.url, new ApiToken(token).current())}\n`);
    return true;
  }
  const stop = health.pid === undefined ? 'stop it' : `stop it (kill ${health.pid})`;
  throw new CliError(
    'already_exists',
    `a daemon is already running ${which} without a TCP listener, so it cannot serve browser mode: ${stop} and run \`npm start\` again, or restart it as \`microvm serve --port ${DEFAULT_PORT}\``,
  );
}

/** Browser mode in the foreground: the daemon on loopback TCP serving the UI, until SIGINT or SIGTERM. */
async function runBrowserMode(): Promise<void> {
  const requested = requestedPort();
  if (await useRunningDaemon()) return;
  if (!(await uiBuildIsCurrent())) {
    process.stderr.write('Building the UI…\n');
    await buildUi();
  }
  await buildMinimalImage({ onProgress: progressPrinter() });

  // Loaded on demand, as in `microvm serve`: the server stack is needed only here.
  const { startDaemon } = await import('../api/api-daemon.js');
  const port = requested ?? DEFAULT_PORT;
  const daemon = await startDaemon({
    tcp: { host: '127.0.0.1', port, anyPortIfTaken: requested === undefined },
    // Warnings only: request logs would bury the one line this command is for.
    logger: pino({ level: process.env.MICROVM_LOG_LEVEL ?? 'warn', base: { pid: process.pid } }, pino.destination(2)),
  });
  const url = daemon.url!;
  const listening = Number(new URL(url).port);
  if (port !== 0 && listening !== port) process.stderr.write(`Port ${port} is taken, so browser mode listens on ${listening} instead (MICROVM_PORT chooses one).\n`);
  process.stdout.write(`${browserModeLine(url, daemon.token.current())}\n`);

  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  process.stderr.write('Stopping the daemon…\n');
  await daemon.close();
}

/**
 * `npm start`. On a desktop with Electron it opens the desktop app. Elsewhere (a headless
 * server, a machine without the Electron binary) it says why not and runs browser mode:
 * the daemon serves the same UI at a loopback URL, printed with its access token.
 */
async function main(): Promise<void> {
  const electron = electronAvailability();
  if (electron.usable) {
    await execa('npx', ['electron-vite', 'preview'], { stdio: 'inherit' });
    return;
  }
  process.stderr.write(`The desktop app cannot start here: ${electron.reason}. Serving the UI to a browser instead.\n`);
  await runBrowserMode();
}

main().then(() => process.exit(0), exitWithError);

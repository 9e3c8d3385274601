import { isIP } from 'node:net';
import { Option, type Command } from 'commander';
import { UsageError } from '../cli-failure.js';
import { nonNegativeInteger } from '../option-parsers.js';

function isLoopback(host: string): boolean {
  if (host === 'localhost') return true;
  if (isIP(host) === 4) return host.startsWith('127.');
  return host === '::1';
}

/** The one line that tells a person how to open browser mode: the link carries the token, which the daemon trades for a session cookie. */
export function browserModeLine(url: string, token: string): string {
  return `Open ${url}/?token=${encodeURIComponent(token)} in a browser (browser mode). Ctrl+C stops the daemon; sandboxes keep running and a later daemon adopts them.`;
}

/** `microvm serve`: the daemon in the foreground until SIGINT or SIGTERM. */
export function registerServeCommand(program: Command): void {
  program
    .command('serve')
    .description('run the daemon in the foreground (Unix socket; also TCP with --port)')
    .option('--port <n>', 'also listen on TCP (bearer token required); 0 picks a free port', nonNegativeInteger)
    .addOption(new Option('--host <address>', 'TCP address to listen on').default('127.0.0.1'))
    .option('--allow-remote', 'allow a --host that is not a loopback address')
    .action(async (options: { port?: number; host: string; allowRemote?: boolean }, command: Command) => {
      if (options.port === undefined && command.getOptionValueSource('host') === 'cli') throw new UsageError('--host needs --port: without it the daemon listens only on its Unix socket');
      if (options.port !== undefined && !isLoopback(options.host) && !options.allowRemote) {
        throw new UsageError(
          `refusing to listen on ${options.host}: it is not a loopback address, so anyone who can reach it and holds the token could run code on this machine; add --allow-remote to do it anyway`,
        );
      }
      // Loaded on demand: the daemon's server stack would slow every other command's start.
      const { startDaemon } = await import('../../api/api-daemon.js');
      const daemon = await startDaemon(options.port === undefined ? {} : { tcp: { host: options.host, port: options.port } });
      process.stdout.write(`microvm daemon listening on unix:${daemon.socketPath}\n`);
      if (daemon.url) {
        process.stdout.write(`and on ${daemon.url} (requests need "Authorization: Bearer <token>"; \`microvm token show\` prints it)\n`);
        process.stderr.write(`${browserModeLine(daemon.url, daemon.token.current())}\n`);
        const { defaultUiDir, uiIsBuilt } = await import('../../api/browser-ui.js');
        if (!(await uiIsBuilt(defaultUiDir()))) process.stderr.write('The UI is not built yet, so the page will say so: run `npm run build:ui`.\n');
      }
      await new Promise<void>((resolve) => {
        process.once('SIGINT', resolve);
        process.once('SIGTERM', resolve);
      });
      await daemon.close();
    });
}

import type { Command } from 'commander';
import { ApiToken } from '../../api/api-token.js';
import { daemonPaths } from '../../core/paths/app-paths.js';
import { printJson } from '../table-output.js';

/** `microvm token show|rotate`: the TCP listener's bearer token, straight from its 0600 file. */
export function registerTokenCommand(program: Command): void {
  const token = program.command('token').description("the TCP listener's bearer token (the Unix socket needs none)");
  const print = (value: string, json?: boolean): void => {
    if (json) printJson({ token: value, path: daemonPaths().token });
    else process.stdout.write(`${value}\n`);
  };
  token
    .command('show')
    .description('print the token, creating it on first use')
    .option('--json', 'print {token, path} as JSON')
    .action((options: { json?: boolean }) => print(new ApiToken(daemonPaths().token).current(), options.json));
  token
    .command('rotate')
    .description('replace the token; the old one stops working at once, without a daemon restart')
    .option('--json', 'print {token, path} as JSON')
    .action((options: { json?: boolean }) => print(new ApiToken(daemonPaths().token).rotate(), options.json));
}

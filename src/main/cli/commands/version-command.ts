import type { Command } from 'commander';
import { MicrovmClient, MicrovmError, type Version } from '../../../sdk/index.js';
import { productVersion } from '../../core/paths/product-version.js';
import { printFields, printJson } from '../table-output.js';

/** `microvm version`: this CLI's version and, when one answers, the daemon's (never starts one). */
export function registerVersionCommand(program: Command): void {
  program
    .command('version')
    .description("print the CLI's version and the running daemon's")
    .option('--json', 'print {cli, daemon} as JSON (daemon is null when none answers)')
    .action(async (options: { json?: boolean }) => {
      const client = new MicrovmClient();
      let daemon: Version | null = null;
      try {
        daemon = await client.version();
      } catch (error) {
        if (!(error instanceof MicrovmError && error.code === 'daemon_unreachable')) throw error;
      }
      if (options.json) {
        printJson({ cli: productVersion(), daemon });
        return;
      }
      printFields([
        ['cli', productVersion()],
        ['daemon', daemon ? `${daemon.version} (API ${daemon.apiVersion}, agent protocol ${daemon.agentProtocol}, Node ${daemon.node})` : `not running on ${client.target}`],
      ]);
    });
}

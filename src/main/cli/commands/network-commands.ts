import { Option, type Command } from 'commander';
import { Sandbox } from '../../../sdk/index.js';
import { daemonClient } from '../daemon-autostart.js';
import { repeated } from '../option-parsers.js';
import { printJson } from '../table-output.js';

/** `microvm network set`: a stopped sandbox's network mode and egress policy. */
export function registerNetworkCommands(program: Command): void {
  const network = program.command('network').description("a sandbox's network mode and egress policy (docs/networking.md)");
  network
    .command('set')
    .description('change the network of a stopped sandbox; prints its name')
    .argument('<id>', 'sandbox id or name')
    .addOption(new Option('--mode <mode>', 'none: no NIC; nat: outbound access from a private address').choices(['none', 'nat']))
    .option('--allow <cidr>', 'a destination the sandbox may reach (then only these); repeat for more', repeated)
    .option('--deny <cidr>', 'a destination the sandbox may not reach; repeat for more', repeated)
    .option('--clear', 'remove the egress policy (everything may be reached)')
    .option('--json', 'print the sandbox as JSON')
    .action(async (id: string, options: { mode?: 'none' | 'nat'; allow?: string[]; deny?: string[]; clear?: boolean; json?: boolean }) => {
      await daemonClient();
      const sandbox = await Sandbox.connect(id);
      // Given lists replace the whole policy; without any, the current one is kept.
      const replace = options.clear || options.allow || options.deny;
      const info = await sandbox.setNetwork({
        ...(options.mode ? { network: options.mode } : {}),
        ...(replace ? { egress: { allow: options.allow ?? [], deny: options.deny ?? [] } } : {}),
      });
      if (options.json) printJson(info);
      else process.stdout.write(`${info.name}\n`);
    });
}

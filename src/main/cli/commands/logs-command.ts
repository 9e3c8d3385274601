import type { Command } from 'commander';
import { Sandbox } from '../../../sdk/index.js';
import { daemonClient } from '../daemon-autostart.js';
import { nonNegativeInteger } from '../option-parsers.js';

/** `microvm logs`: the serial console of the sandbox's current run. */
export function registerLogsCommand(program: Command): void {
  program
    .command('logs')
    .description("print a sandbox's serial console log (kernel and boot messages)")
    .argument('<id>', 'sandbox id or name')
    .option('-f, --follow', 'keep printing new output until Ctrl-C')
    .option('--tail <n>', 'only the last N lines', nonNegativeInteger)
    .action(async (id: string, options: { follow?: boolean; tail?: number }) => {
      await daemonClient();
      const sandbox = await Sandbox.connect(id);
      const stop = new AbortController();
      const onSignal = () => stop.abort();
      process.once('SIGINT', onSignal);
      process.once('SIGTERM', onSignal);
      try {
        for await (const text of sandbox.logs({ ...(options.tail !== undefined ? { tail: options.tail } : {}), follow: Boolean(options.follow), signal: stop.signal })) {
          process.stdout.write(text);
        }
      } catch (error) {
        if (!stop.signal.aborted) throw error;
      } finally {
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
      }
    });
}

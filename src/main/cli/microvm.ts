import { Command, CommanderError } from 'commander';
import { productVersion } from '../core/paths/product-version.js';
import { exitWithError } from './cli-failure.js';
import { registerComputerCommands } from './commands/computer-commands.js';
import { registerCpCommand } from './commands/cp-command.js';
import { registerDoctorCommand } from './commands/doctor-command.js';
import { registerExecCommand } from './commands/exec-command.js';
import { registerImagesCommand } from './commands/images-command.js';
import { registerLogsCommand } from './commands/logs-command.js';
import { registerMcpCommand } from './commands/mcp-command.js';
import { registerNetworkCommands } from './commands/network-commands.js';
import { registerPortCommands } from './commands/port-commands.js';
import { registerSandboxCommands } from './commands/sandbox-commands.js';
import { registerServeCommand } from './commands/serve-command.js';
import { registerSnapshotCommands } from './commands/snapshot-commands.js';
import { registerTokenCommand } from './commands/token-command.js';
import { registerVersionCommand } from './commands/version-command.js';

/** Exit status of a command line that cannot be parsed (the invalid_argument row of the error-code table). */
const USAGE_EXIT = 2;

function buildProgram(): Command {
  const program = new Command('microvm')
    .description('Run code in microVM sandboxes on this machine, through the microvm daemon.')
    .version(productVersion(), '-V, --version', "print the CLI's version")
    .option('--socket <path>', "the daemon's Unix socket (env MICROVM_SOCKET)")
    .option('--url <url>', 'a daemon over TCP instead, with env MICROVM_TOKEN (env MICROVM_URL)')
    // Options after a command belong to it, so `exec ID ls -l` passes -l to ls.
    .enablePositionalOptions()
    .showSuggestionAfterError()
    .exitOverride()
    .hook('preAction', (command) => {
      const { socket, url } = command.opts<{ socket?: string; url?: string }>();
      // The SDK, the autostart and the daemon all read these, so one setting reaches all three.
      if (socket) process.env.MICROVM_SOCKET = socket;
      if (url) process.env.MICROVM_URL = url;
    });
  registerServeCommand(program);
  registerSandboxCommands(program);
  registerExecCommand(program);
  registerCpCommand(program);
  registerLogsCommand(program);
  registerSnapshotCommands(program);
  registerComputerCommands(program);
  registerPortCommands(program);
  registerNetworkCommands(program);
  registerMcpCommand(program);
  registerImagesCommand(program);
  registerTokenCommand(program);
  registerDoctorCommand(program);
  registerVersionCommand(program);
  return program;
}

// A reader that went away (`microvm exec ID yes | head -1`) ends the command the way a
// shell's SIGPIPE would, rather than with an unhandled stream error.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code === 'EPIPE') process.exit(128 + 13);
  exitWithError(error);
});

try {
  await buildProgram().parseAsync(process.argv);
} catch (error) {
  // Commander has already printed its message (or the help); only the status is left to set.
  if (error instanceof CommanderError) process.exit(error.exitCode === 0 ? 0 : USAGE_EXIT);
  exitWithError(error);
}

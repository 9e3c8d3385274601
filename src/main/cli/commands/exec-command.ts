import { constants } from 'node:os';
import { finished } from 'node:stream/promises';
import type { Command } from 'commander';
import { Sandbox, type ExecOutput } from '../../../sdk/index.js';
import { errorCodeInfo } from '../../../shared/error-codes.js';
import { UsageError } from '../cli-failure.js';
import { daemonClient } from '../daemon-autostart.js';
import { keyValue, positiveInteger } from '../option-parsers.js';

interface ExecFlags {
  interactive?: boolean;
  tty?: boolean;
  env?: Record<string, string>;
  workdir?: string;
  user?: string;
  timeout?: number;
}

/** The shell's convention: the exit code, or 128 + the signal's number when a signal ended the process. */
export function exitStatusOf(result: Pick<ExecOutput, 'exitCode' | 'signal'>): number {
  if (result.exitCode !== null) return result.exitCode;
  const number = result.signal ? (constants.signals as Record<string, number | undefined>)[result.signal] : undefined;
  return number === undefined ? 255 : 128 + number;
}

function terminalSize(): { rows: number; cols: number } {
  return { rows: process.stdout.rows || 24, cols: process.stdout.columns || 80 };
}

/** `microvm exec`: a process in the guest with this terminal's streams, exiting with its status. */
export function registerExecCommand(program: Command): void {
  program
    .command('exec')
    .description("run a command in a sandbox, streaming its output; exits with the command's exit status")
    .argument('<id>', 'sandbox id or name')
    .argument('<command...>', 'the program and its arguments (no shell; use sh -c "..." for one)')
    .option('-i, --interactive', 'forward stdin to the command (without it the command reads nothing)')
    .option('-t, --tty', "run on a pseudo-terminal that follows this terminal's size (with -i: raw mode)")
    .option('-e, --env <KEY=VALUE>', 'an environment variable; repeat for more', keyValue)
    .option('-w, --workdir <dir>', 'absolute guest directory to run in')
    .option('-u, --user <user>', 'guest user to run as')
    .option('--timeout <ms>', 'kill the command after this long (exit status 7)', positiveInteger)
    .passThroughOptions()
    .action(async (id: string, words: string[], flags: ExecFlags) => {
      // Options stop at the first argument, so a `--` after the id arrives as a word of the command.
      const command = words[0] === '--' ? words.slice(1) : words;
      if (command.length === 0) throw new UsageError('exec needs a command after the sandbox id');
      const raw = Boolean(flags.interactive && flags.tty);
      if (raw && !process.stdin.isTTY) throw new UsageError('-it needs a terminal on stdin; drop -t to pipe input');
      await daemonClient();
      const sandbox = await Sandbox.connect(id);
      const handle = await sandbox.spawn(command, {
        ...(flags.interactive ? { stdin: process.stdin } : {}),
        ...(flags.env ? { env: flags.env } : {}),
        ...(flags.workdir !== undefined ? { cwd: flags.workdir } : {}),
        ...(flags.user !== undefined ? { user: flags.user } : {}),
        ...(flags.timeout !== undefined ? { timeoutMs: flags.timeout } : {}),
        ...(flags.tty ? { pty: terminalSize() } : {}),
      });

      handle.stdout.pipe(process.stdout, { end: false });
      handle.stderr.pipe(process.stderr, { end: false });
      const onResize = () => {
        const { rows, cols } = terminalSize();
        handle.resize(rows, cols);
      };
      // In raw mode Ctrl-C reaches the guest as a byte; otherwise the signal is passed on.
      const forward = (signal: NodeJS.Signals) => handle.signal(signal);
      if (flags.tty) process.stdout.on('resize', onResize);
      if (raw) process.stdin.setRawMode(true);
      else for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, forward);
      let result: ExecOutput;
      try {
        result = await handle.wait();
        await Promise.all([finished(handle.stdout), finished(handle.stderr)]);
      } finally {
        if (raw) process.stdin.setRawMode(false);
        process.stdout.off('resize', onResize);
        for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.off(signal, forward);
      }
      if (result.timedOut) {
        process.stderr.write(`error: the command timed out after ${flags.timeout} ms and was killed\n`);
        process.exit(errorCodeInfo('timeout').exit);
      }
      // Exiting here also lets go of stdin, which would otherwise keep waiting for input.
      process.exit(exitStatusOf(result));
    });
}

import { writeFile } from 'node:fs/promises';
import { Option, type Command } from 'commander';
import { CLICK_BUTTONS, SCROLL_DIRECTIONS, type ClickButton, type ComputerAction, type ScrollDirection } from '../../../shared/api/computer-schemas.js';
import { Sandbox } from '../../../sdk/index.js';
import { UsageError } from '../cli-failure.js';
import { daemonClient } from '../daemon-autostart.js';
import { formatBytes, printJson } from '../table-output.js';

interface ComputerOptions {
  output?: string;
  button?: ClickButton;
  count?: string;
  delay?: string;
  json?: boolean;
}

const USAGE = [
  'screenshot [-o FILE]      the screen as PNG (FILE "-" is stdout; <sandbox>-screenshot.png by default)',
  'cursor                    the pointer position, "X Y"',
  'size                      the screen size, "WIDTHxHEIGHT"',
  'move X Y                  move the pointer',
  'click [X Y] [--button B] [--count N]',
  'double-click [X Y]',
  'drag X1 Y1 X2 Y2 [X Y …]  drag with the left button through the points',
  'scroll up|down|left|right [AMOUNT] [X Y]',
  'type TEXT [--delay MS]    type text into the focused window ("-" reads stdin)',
  'key COMBO…                press keys in order: Return, ctrl+a, ctrl+alt+Delete',
  'wait MS',
  "act JSON                  any action as JSON, e.g. '{\"action\":\"triple_click\",\"x\":10,\"y\":20}'",
];

/** A command line's words as one action; the daemon checks it again (screen bounds, key names). */
export function cliComputerAction(verb: string, args: string[], options: ComputerOptions = {}): ComputerAction {
  const int = (value: string | undefined, what: string): number => {
    if (value === undefined || !/^\d+$/.test(value)) throw new UsageError(`${verb}: ${what} must be a whole number of pixels (0 or more), got ${value === undefined ? 'nothing' : `"${value}"`}`);
    return Number(value);
  };
  const expect = (count: number | number[], shape: string) => {
    const counts = Array.isArray(count) ? count : [count];
    if (!counts.includes(args.length)) throw new UsageError(`${verb}: expected ${shape}`);
  };
  const at = (from: number) => (args.length > from ? { x: int(args[from], 'X'), y: int(args[from + 1], 'Y') } : {});
  switch (verb) {
    case 'screenshot':
      expect(0, 'no arguments (use -o FILE)');
      return { action: 'screenshot' };
    case 'cursor':
      expect(0, 'no arguments');
      return { action: 'cursor_position' };
    case 'size':
      expect(0, 'no arguments');
      return { action: 'screen_size' };
    case 'move':
      expect(2, 'X Y');
      return { action: 'mouse_move', x: int(args[0], 'X'), y: int(args[1], 'Y') };
    case 'click': {
      expect([0, 2], '[X Y]');
      const count = options.count === undefined ? undefined : int(options.count, '--count');
      return { action: 'click', ...at(0), ...(options.button ? { button: options.button } : {}), ...(count === undefined ? {} : { count }) };
    }
    case 'double-click':
      expect([0, 2], '[X Y]');
      return { action: 'double_click', ...at(0) };
    case 'drag': {
      if (args.length < 4 || args.length % 2 !== 0) throw new UsageError(`${verb}: expected X1 Y1 X2 Y2 [X Y …] (pairs of coordinates, at least two points)`);
      const path = [];
      for (let i = 0; i < args.length; i += 2) path.push({ x: int(args[i], 'X'), y: int(args[i + 1], 'Y') });
      return { action: 'drag', path };
    }
    case 'scroll': {
      expect([1, 2, 4], 'up|down|left|right [AMOUNT] [X Y]');
      const direction = args[0] as ScrollDirection;
      if (!SCROLL_DIRECTIONS.includes(direction)) throw new UsageError(`${verb}: the direction must be one of ${SCROLL_DIRECTIONS.join(', ')}`);
      const amount = args.length >= 2 ? int(args[1], 'AMOUNT') : undefined;
      return { action: 'scroll', direction, ...(amount === undefined ? {} : { amount }), ...(args.length === 4 ? at(2) : {}) };
    }
    case 'type': {
      expect(1, 'TEXT (one argument: quote it)');
      const delayMs = options.delay === undefined ? undefined : int(options.delay, '--delay');
      return { action: 'type', text: args[0]!, ...(delayMs === undefined ? {} : { delayMs }) };
    }
    case 'key':
      if (args.length === 0) throw new UsageError(`${verb}: expected one or more keys (Return, ctrl+a, ctrl+alt+Delete)`);
      return { action: 'key', keys: args };
    case 'wait':
      expect(1, 'MS');
      return { action: 'wait', durationMs: int(args[0], 'MS') };
    case 'act': {
      expect(1, "JSON (one argument: quote it), e.g. '{\"action\":\"left_click\",\"x\":10,\"y\":20}'");
      try {
        return JSON.parse(args[0]!) as ComputerAction;
      } catch (error) {
        throw new UsageError(`${verb}: not valid JSON: ${(error as Error).message}`);
      }
    }
    default:
      throw new UsageError(`"${verb}" is not a computer action; one of:\n  ${USAGE.join('\n  ')}`);
  }
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin as AsyncIterable<Buffer>) chunks.push(chunk);
  return Buffer.concat(chunks).toString('utf8');
}

/** `microvm computer <sandbox> <action> …`: computer use from the command line (docs/computer-use.md). */
export function registerComputerCommands(program: Command): void {
  program
    .command('computer')
    .description('screenshots, pointer and keyboard of a sandbox with a display (docs/computer-use.md)')
    .argument('<sandbox>', 'sandbox id or name')
    .argument('<action>', USAGE.map((line) => line.split(/\s{2,}/)[0]).join(' | '))
    .argument('[args...]', 'the action\'s arguments')
    .option('-o, --output <file>', 'screenshot: where to write the PNG ("-" for stdout)')
    .addOption(new Option('--button <button>', 'click: which button').choices(CLICK_BUTTONS))
    .option('--count <n>', 'click: 2 for a double click, 3 for a triple click')
    .option('--delay <ms>', 'type: milliseconds between keystrokes')
    .option('--json', "print the daemon's result as JSON")
    .addHelpText('after', `\nActions:\n  ${USAGE.join('\n  ')}`)
    .action(async (id: string, verb: string, rawArgs: string[], options: ComputerOptions) => {
      const args = verb === 'type' && rawArgs.length === 1 && rawArgs[0] === '-' ? [await readStdin()] : rawArgs;
      const action = cliComputerAction(verb, args, options);
      await daemonClient();
      const sandbox = await Sandbox.connect(id);
      if (action.action === 'screenshot' && !options.json) {
        const shot = await sandbox.computer.screenshot();
        const target = options.output ?? `${sandbox.name}-screenshot.png`;
        if (target === '-') {
          process.stdout.write(shot.png);
          return;
        }
        await writeFile(target, shot.png);
        process.stderr.write(`${target}: ${shot.width}x${shot.height} PNG, ${formatBytes(shot.png.length)}\n`);
        return;
      }
      const result = await sandbox.computer.act(action);
      if (options.json) return printJson(result);
      if (action.action === 'cursor_position') process.stdout.write(`${result.x} ${result.y}\n`);
      else if (action.action === 'screen_size') process.stdout.write(`${result.width}x${result.height}\n`);
    });
}

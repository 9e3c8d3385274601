import { Value } from 'typebox/value';
import {
  COMPUTER_ACTION_NAMES,
  COMPUTER_ACTION_SCHEMAS,
  type ClickButton,
  type ComputerAction,
  type ComputerActionName,
  type ComputerPoint,
  type ScrollDirection,
} from '../../../shared/api/computer-schemas.js';
import { SandboxError } from '../errors/sandbox-error.js';

/**
 * The pure half of computer use: checking an action (its shape, then its coordinates
 * against the screen) and turning it into xdotool's argument vector. The vector goes to
 * the guest as argv, never through a shell, and every string in it has passed a pattern
 * or is the text of a `type` action, which follows `--` and so cannot be read as an option.
 */

export interface ScreenSize {
  width: number;
  height: number;
}

type Member = (typeof COMPUTER_ACTION_SCHEMAS)[keyof typeof COMPUTER_ACTION_SCHEMAS];

const MEMBER_BY_NAME = new Map<string, Member>(
  Object.values(COMPUTER_ACTION_SCHEMAS).flatMap((schema) => {
    const names = (schema.properties.action as unknown as { enum: string[] }).enum;
    return names.map((name) => [name, schema as Member] as const);
  }),
);

/** Control characters xdotool cannot type; newline (Return) and tab are fine. */
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const UNTYPEABLE = /[\u0000-\u0008\u000b-\u001f\u007f]/;

/** A computer action from a request, checked field by field; the messages name the field. */
export function parseComputerAction(input: unknown): ComputerAction {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw invalid('action', 'expected a JSON object with an "action" field');
  }
  const name = (input as { action?: unknown }).action;
  if (typeof name !== 'string') throw invalid('action', `expected one of ${COMPUTER_ACTION_NAMES.join(', ')}`);
  const schema = MEMBER_BY_NAME.get(name);
  if (!schema) throw invalid('action', `"${name.slice(0, 64)}" is not an action; expected one of ${COMPUTER_ACTION_NAMES.join(', ')}`);
  if (!Value.Check(schema, input)) {
    const errors = [...Value.Errors(schema, input)];
    const extra = errors.find((e) => e.keyword === 'additionalProperties');
    if (extra) {
      const names = (extra.params as { additionalProperties?: string[] }).additionalProperties ?? [];
      throw invalid(names[0] ?? 'action', `"${names.join('", "')}" is not a field of the ${name} action (fields: ${Object.keys(schema.properties).join(', ')})`);
    }
    const missing = errors.find((e) => e.keyword === 'required');
    if (missing) {
      const names = (missing.params as { requiredProperties?: string[] }).requiredProperties ?? [];
      const field = [missing.instancePath.slice(1).replace(/\//g, '.'), names[0]].filter(Boolean).join('.');
      throw invalid(field || 'action', `missing (the ${name} action needs ${names.join(', ')})`);
    }
    const first = errors.find((e) => e.keyword !== 'boolean') ?? errors[0];
    const field = first?.instancePath ? first.instancePath.slice(1).replace(/\//g, '.') : 'action';
    throw invalid(field, `${first?.message ?? 'is not valid'} (in the ${name} action)`);
  }
  const action = input as ComputerAction;
  if ('x' in action !== 'y' in action) throw invalid('x' in action ? 'y' : 'x', `${name}: give both x and y, or neither (to act where the pointer is)`);
  if (action.action === 'type' && UNTYPEABLE.test(action.text)) {
    throw invalid('text', 'contains control characters that cannot be typed (only newline and tab can)');
  }
  return action;
}

/** Refuses coordinates outside the screen, naming the field. */
export function checkOnScreen(action: ComputerAction, screen: ScreenSize): void {
  const check = (field: string, point: { x?: number; y?: number }) => {
    if (point.x !== undefined && point.x >= screen.width) throw invalid(`${field}x`, `${point.x} is off the screen (0 … ${screen.width - 1})`);
    if (point.y !== undefined && point.y >= screen.height) throw invalid(`${field}y`, `${point.y} is off the screen (0 … ${screen.height - 1})`);
  };
  if (action.action === 'drag' || action.action === 'left_click_drag') action.path.forEach((p, i) => check(`path.${i}.`, p));
  else check('', action as { x?: number; y?: number });
}

const BUTTON: Record<ClickButton, number> = { left: 1, middle: 2, wheel: 2, right: 3, back: 8, forward: 9 };
const WHEEL: Record<ScrollDirection, number> = { up: 4, down: 5, left: 6, right: 7 };
const CLICK_DELAY_MS = 100;
const DRAG_STEP_SECONDS = '0.05';
export const DEFAULT_TYPE_DELAY_MS = 12;
export const DEFAULT_SCROLL_AMOUNT = 3;

/**
 * xdotool's arguments for an action that xdotool performs (everything but screenshot,
 * screen_size and wait, which return null). Actions at a position move there first in
 * the same invocation (xdotool chains commands).
 */
export function xdotoolArgv(action: ComputerAction): string[] | null {
  const at = (p: { x?: number; y?: number }) => (p.x !== undefined && p.y !== undefined ? ['mousemove', String(p.x), String(p.y)] : []);
  const click = (button: number, count = 1) => ['click', ...(count > 1 ? ['--repeat', String(count), '--delay', String(CLICK_DELAY_MS)] : []), String(button)];
  switch (action.action) {
    case 'screenshot':
    case 'screen_size':
    case 'wait':
      return null;
    case 'cursor_position':
      return ['getmouselocation', '--shell'];
    case 'mouse_move':
    case 'move':
      return at(action);
    case 'left_click':
      return [...at(action), ...click(1)];
    case 'right_click':
      return [...at(action), ...click(3)];
    case 'middle_click':
      return [...at(action), ...click(2)];
    case 'double_click':
      return [...at(action), ...click(1, 2)];
    case 'triple_click':
      return [...at(action), ...click(1, 3)];
    case 'click':
      return [...at(action), ...click(BUTTON[action.button ?? 'left'], action.count ?? 1)];
    case 'left_mouse_down':
      return [...at(action), 'mousedown', '1'];
    case 'left_mouse_up':
      return [...at(action), 'mouseup', '1'];
    case 'drag':
    case 'left_click_drag':
      return dragArgv(action.path);
    case 'scroll': {
      const amount = action.amount ?? DEFAULT_SCROLL_AMOUNT;
      return [...at(action), 'click', '--repeat', String(amount), '--delay', '30', String(WHEEL[action.direction])];
    }
    case 'type':
      return ['type', '--delay', String(action.delayMs ?? DEFAULT_TYPE_DELAY_MS), '--', action.text];
    case 'key':
      return ['key', '--', ...action.keys];
    case 'keypress':
      return ['key', '--', keypressCombo(action.keys)];
  }
}

/** Press at the first point, move through the others with a pause at each (so the app sees a drag), release at the last. */
function dragArgv(path: ComputerPoint[]): string[] {
  const [first, ...rest] = path;
  const argv = ['mousemove', String(first!.x), String(first!.y), 'mousedown', '1'];
  for (const point of rest) argv.push('sleep', DRAG_STEP_SECONDS, 'mousemove', String(point.x), String(point.y));
  argv.push('sleep', DRAG_STEP_SECONDS, 'mouseup', '1');
  return argv;
}

/** Key names as OpenAI's keypress and the DOM's KeyboardEvent.key spell them, to xdotool's keysym names. */
const KEY_ALIASES: Record<string, string> = {
  ctrl: 'ctrl',
  control: 'ctrl',
  alt: 'alt',
  option: 'alt',
  shift: 'shift',
  meta: 'super',
  super: 'super',
  cmd: 'super',
  command: 'super',
  win: 'super',
  windows: 'super',
  enter: 'Return',
  return: 'Return',
  esc: 'Escape',
  escape: 'Escape',
  tab: 'Tab',
  space: 'space',
  backspace: 'BackSpace',
  delete: 'Delete',
  del: 'Delete',
  insert: 'Insert',
  home: 'Home',
  end: 'End',
  pageup: 'Page_Up',
  page_up: 'Page_Up',
  pagedown: 'Page_Down',
  page_down: 'Page_Down',
  arrowup: 'Up',
  up: 'Up',
  arrowdown: 'Down',
  down: 'Down',
  arrowleft: 'Left',
  left: 'Left',
  arrowright: 'Right',
  right: 'Right',
  capslock: 'Caps_Lock',
  print: 'Print',
  printscreen: 'Print',
};

/** OpenAI's keys-pressed-together (any case: ["CTRL", "A"]) as one xdotool combination ("ctrl+a"). */
export function keypressCombo(keys: readonly string[]): string {
  return keys
    .map((key) => {
      const lower = key.toLowerCase();
      if (KEY_ALIASES[lower]) return KEY_ALIASES[lower];
      if (/^f([1-9]|1[0-9]|2[0-4])$/.test(lower)) return lower.toUpperCase();
      // A single letter means the key, not the capital: shift is its own key in the list.
      if (key.length === 1) return lower;
      return key;
    })
    .join('+');
}

/** The keys xdotool said it does not know (it only warns, and presses the rest). */
export function unknownKeyNames(stderr: string): string[] {
  return [...stderr.matchAll(/No such key name '([^']*)'/g)].map((m) => m[1]!).filter((name, i, all) => all.indexOf(name) === i);
}

/** `xdotool getmouselocation --shell` output: X=…, Y=… lines. */
export function parseMouseLocation(stdout: string): { x: number; y: number } {
  const x = /^X=(-?\d+)$/m.exec(stdout);
  const y = /^Y=(-?\d+)$/m.exec(stdout);
  if (!x || !y) throw new SandboxError('display_unavailable', `xdotool getmouselocation gave no position: ${JSON.stringify(stdout.slice(0, 200))}`);
  return { x: Number(x[1]), y: Number(y[1]) };
}

export function isActionName(name: string): name is ComputerActionName {
  return MEMBER_BY_NAME.has(name);
}

function invalid(field: string, message: string): SandboxError {
  return new SandboxError('invalid_argument', `${field}: ${message}`, { field });
}

import { setTimeout as sleep } from 'node:timers/promises';
import {
  KEY_COMBO_PATTERN,
  KEY_NAME_PATTERN,
  MAX_DRAG_POINTS,
  MAX_KEY_COMBOS,
  MAX_SCROLL_AMOUNT,
  MAX_TYPE_TEXT,
  MAX_WAIT_MS,
  SCROLL_DIRECTIONS,
  type ClickButton,
  type ComputerAction,
  type ComputerPoint,
  type ScrollDirection,
} from '../../shared/api/computer-schemas.js';
import { MicrovmError } from '../microvm-error.js';
import type { Sandbox } from '../sandbox.js';

/**
 * Anthropic's and OpenAI's computer-use tools driving a sandbox with a display
 * (docs/adapters.md). Each adapter is a tool definition to send to the model and a `run`
 * that performs what the model asked for with `sandbox.computer.act` and answers what
 * goes back to the model. The mappings are pure functions (anthropicToActions,
 * openaiToActions) that check the model's input against the screen, so a refusal names
 * the model's own field (`coordinate`, `scroll_x`) rather than the daemon's.
 */

export interface ScreenSize {
  width: number;
  height: number;
}

const DEFAULT_SETTLE_MS = 500;

export interface ComputerToolOptions {
  /**
   * How long to let the screen settle after an action before the screenshot that shows
   * its effect (default 500 ms). Anthropic's reference implementation waits 2 s, which
   * suits slow applications.
   */
  settleMs?: number;
}

// ---------------------------------------------------------------------------------------
// Anthropic

/** The computer tool's versions; they differ in the actions the model may use, not in the fields. */
export type AnthropicComputerToolVersion = 'computer_20241022' | 'computer_20250124' | 'computer_20251124';

/** The beta flag (`betas: [...]`, header anthropic-beta) each version needs. */
const ANTHROPIC_BETA: Record<AnthropicComputerToolVersion, string> = {
  computer_20241022: 'computer-use-2024-10-22',
  computer_20250124: 'computer-use-2025-01-24',
  computer_20251124: 'computer-use-2025-11-24',
};

export interface AnthropicComputerToolOptions extends ComputerToolOptions {
  /** Default computer_20250124. computer_20251124 is offered without zoom (`enable_zoom`). */
  version?: AnthropicComputerToolVersion;
  /**
   * Answer every action but cursor_position with a screenshot taken after it (the
   * default, as Anthropic's reference implementation does), so the model sees the effect
   * without asking; false answers a short text and the model asks for screenshots.
   */
  screenshotAfterAction?: boolean;
}

export interface AnthropicComputerToolDefinition {
  type: AnthropicComputerToolVersion;
  name: 'computer';
  display_width_px: number;
  display_height_px: number;
}

/** A content block of a tool_result. */
export type AnthropicToolResultBlock =
  | { type: 'text'; text: string }
  | { type: 'image'; source: { type: 'base64'; media_type: 'image/png'; data: string } };

export interface AnthropicComputerTool {
  /** For `tools: [definition]`. */
  definition: AnthropicComputerToolDefinition;
  /** For `betas: [beta]` (the anthropic-beta header). */
  beta: string;
  /**
   * Performs a tool_use block's `input` and answers the tool_result's content. Bad input
   * and daemon errors throw a MicrovmError; send its message back with `is_error: true`.
   */
  run(input: unknown): Promise<AnthropicToolResultBlock[]>;
}

const ANTHROPIC_ACTIONS = [
  'screenshot',
  'cursor_position',
  'mouse_move',
  'left_click',
  'right_click',
  'middle_click',
  'double_click',
  'triple_click',
  'left_mouse_down',
  'left_mouse_up',
  'left_click_drag',
  'scroll',
  'type',
  'key',
  'wait',
] as const;

export async function anthropicComputerTool(sandbox: Sandbox, options: AnthropicComputerToolOptions = {}): Promise<AnthropicComputerTool> {
  const version = options.version ?? 'computer_20250124';
  const screen = await sandbox.computer.screenSize();
  const settleMs = options.settleMs ?? DEFAULT_SETTLE_MS;
  return {
    definition: { type: version, name: 'computer', display_width_px: screen.width, display_height_px: screen.height },
    beta: ANTHROPIC_BETA[version],
    async run(input) {
      const actions = anthropicToActions(input, screen);
      const first = actions[0]!;
      if (first.action === 'screenshot') return [anthropicImage(await screenshot(sandbox))];
      if (first.action === 'cursor_position') {
        const { x, y } = await sandbox.computer.act(first);
        return [{ type: 'text', text: `X=${x},Y=${y}` }];
      }
      for (const action of actions) await sandbox.computer.act(action);
      if (options.screenshotAfterAction === false) return [{ type: 'text', text: `${first.action}: done` }];
      await sleep(settleMs);
      return [anthropicImage(await screenshot(sandbox))];
    },
  };
}

/**
 * A tool_use input of Anthropic's computer tool as the actions that perform it (more than
 * one only for long text, which is typed in pieces).
 */
export function anthropicToActions(input: unknown, screen: ScreenSize): ComputerAction[] {
  const fields = record(input);
  const action = fields.action;
  const coordinate = (field: 'coordinate' | 'start_coordinate') => anthropicPoint(fields[field], field, screen);
  const required = (field: 'coordinate' | 'start_coordinate') => coordinate(field) ?? missing(field, `${String(action)} needs it`);
  const noModifiers = () => {
    if (fields.text !== undefined) throw invalid('text', `holding keys during ${String(action)} is not supported; press them with key, or use left_mouse_down and left_mouse_up`);
  };
  switch (action) {
    case 'screenshot':
    case 'cursor_position':
      return [{ action }];
    case 'mouse_move':
      return [{ action, ...required('coordinate') }];
    case 'left_click':
    case 'right_click':
    case 'middle_click':
    case 'double_click':
    case 'triple_click':
    case 'left_mouse_down':
    case 'left_mouse_up':
      noModifiers();
      return [{ action, ...coordinate('coordinate') }];
    case 'left_click_drag':
      return [{ action, path: [required('start_coordinate'), required('coordinate')] }];
    case 'scroll': {
      noModifiers();
      const direction = fields.scroll_direction;
      if (direction === undefined) missing('scroll_direction', 'scroll needs up, down, left or right');
      if (!SCROLL_DIRECTIONS.includes(direction as ScrollDirection)) throw invalid('scroll_direction', `${show(direction)} is not one of ${SCROLL_DIRECTIONS.join(', ')}`);
      const amount = fields.scroll_amount === undefined ? {} : { amount: integer(fields.scroll_amount, 'scroll_amount', 1, MAX_SCROLL_AMOUNT) };
      return [{ action, direction: direction as ScrollDirection, ...amount, ...coordinate('coordinate') }];
    }
    case 'type':
      return typeActions(text(fields.text, 'text', 'type'));
    case 'key':
      return [{ action, keys: keyCombos(text(fields.text, 'text', 'key')) }];
    case 'wait': {
      const seconds = fields.duration ?? 1;
      if (typeof seconds !== 'number' || !(seconds >= 0 && seconds * 1000 <= MAX_WAIT_MS)) throw invalid('duration', `${show(seconds)} is not a number of seconds from 0 to ${MAX_WAIT_MS / 1000}`);
      return [{ action, durationMs: Math.round(seconds * 1000) }];
    }
    case 'hold_key':
      throw invalid('action', 'hold_key is not supported; press the keys with key, or hold the mouse button with left_mouse_down');
    case 'zoom':
      throw invalid('action', 'zoom is not supported; take a screenshot');
    case undefined:
      return missing('action', `one of ${ANTHROPIC_ACTIONS.join(', ')}`);
    default:
      throw invalid('action', `${show(action)} is not an action of the computer tool; expected one of ${ANTHROPIC_ACTIONS.join(', ')}`);
  }
}

function anthropicPoint(value: unknown, field: string, screen: ScreenSize): ComputerPoint | undefined {
  if (value === undefined) return undefined;
  const [x, y] = Array.isArray(value) ? value : [];
  if (!Array.isArray(value) || value.length !== 2 || !isCoordinate(x) || !isCoordinate(y)) throw invalid(field, `${show(value)} is not [x, y] in whole pixels`);
  if (x >= screen.width || y >= screen.height) throw invalid(field, `[${x}, ${y}] is off the screen (${screen.width}×${screen.height}: x 0 … ${screen.width - 1}, y 0 … ${screen.height - 1})`);
  return { x, y };
}

/** `text` of a key action: xdotool keys or combinations, separated by spaces ("ctrl+a Delete"). */
function keyCombos(value: string): string[] {
  const combos = value.trim().split(/\s+/);
  if (combos.length > MAX_KEY_COMBOS) throw invalid('text', `${combos.length} keys; at most ${MAX_KEY_COMBOS} at a time`);
  const pattern = new RegExp(KEY_COMBO_PATTERN);
  const bad = combos.find((combo) => !pattern.test(combo));
  if (bad !== undefined) throw invalid('text', `"${bad.slice(0, 64)}" is not an xdotool key or combination (keysym names joined by +, e.g. "ctrl+s", "Return", "minus")`);
  return combos;
}

function anthropicImage(png: string): AnthropicToolResultBlock {
  return { type: 'image', source: { type: 'base64', media_type: 'image/png', data: png } };
}

// ---------------------------------------------------------------------------------------
// OpenAI

export interface OpenaiComputerToolDefinition {
  type: 'computer_use_preview';
  display_width: number;
  display_height: number;
  environment: 'linux';
}

/** What a computer_call_output carries: the screen after the action. */
export interface OpenaiComputerScreenshot {
  type: 'computer_screenshot';
  image_url: string;
}

export interface OpenaiComputerTool {
  /** For `tools: [definition]` of the Responses API. */
  definition: OpenaiComputerToolDefinition;
  /**
   * Performs a computer_call's `action` and answers the screenshot for its
   * computer_call_output. Bad input and daemon errors throw a MicrovmError.
   */
  run(action: unknown): Promise<OpenaiComputerScreenshot>;
}

const OPENAI_ACTIONS = ['click', 'double_click', 'drag', 'keypress', 'move', 'screenshot', 'scroll', 'type', 'wait'] as const;
const OPENAI_BUTTONS: readonly ClickButton[] = ['left', 'right', 'wheel', 'back', 'forward'];
/** Pixels of OpenAI's scroll_x / scroll_y per wheel click. */
const PIXELS_PER_WHEEL_CLICK = 100;

export async function openaiComputerTool(sandbox: Sandbox, options: ComputerToolOptions = {}): Promise<OpenaiComputerTool> {
  const screen = await sandbox.computer.screenSize();
  const settleMs = options.settleMs ?? DEFAULT_SETTLE_MS;
  return {
    definition: { type: 'computer_use_preview', display_width: screen.width, display_height: screen.height, environment: 'linux' },
    async run(input) {
      const actions = openaiToActions(input, screen);
      for (const action of actions) await sandbox.computer.act(action);
      if (actions.length > 0) await sleep(settleMs);
      return { type: 'computer_screenshot', image_url: `data:image/png;base64,${await screenshot(sandbox)}` };
    },
  };
}

/**
 * A computer_call's action as the actions that perform it, before the screenshot every
 * call answers: none for screenshot (and for a scroll of 0 pixels), two for a diagonal
 * scroll, several for long text.
 */
export function openaiToActions(input: unknown, screen: ScreenSize): ComputerAction[] {
  const fields = record(input);
  const type = fields.type;
  const at = () => ({ x: openaiCoordinate(fields.x, 'x', screen.width), y: openaiCoordinate(fields.y, 'y', screen.height) });
  switch (type) {
    case 'screenshot':
      return [];
    case 'click': {
      const button = fields.button ?? 'left';
      if (!OPENAI_BUTTONS.includes(button as ClickButton)) throw invalid('button', `${show(button)} is not one of ${OPENAI_BUTTONS.join(', ')}`);
      if (Array.isArray(fields.keys) && fields.keys.length > 0) throw invalid('keys', 'holding keys during a click is not supported; press them with keypress');
      return [{ action: 'click', button: button as ClickButton, ...at() }];
    }
    case 'double_click':
      return [{ action: 'double_click', ...at() }];
    case 'move':
      return [{ action: 'move', ...at() }];
    case 'drag': {
      const path = fields.path;
      if (!Array.isArray(path) || path.length < 2 || path.length > MAX_DRAG_POINTS) throw invalid('path', `expected 2 to ${MAX_DRAG_POINTS} points {x, y}`);
      return [
        {
          action: 'drag',
          path: path.map((point: unknown, i) => {
            const p = record(point, `path.${i}`);
            return { x: openaiCoordinate(p.x, `path.${i}.x`, screen.width), y: openaiCoordinate(p.y, `path.${i}.y`, screen.height) };
          }),
        },
      ];
    }
    case 'scroll': {
      const position = at();
      const scroll = (field: 'scroll_x' | 'scroll_y', negative: ScrollDirection, positive: ScrollDirection): ComputerAction[] => {
        const pixels = fields[field] ?? 0;
        if (typeof pixels !== 'number' || !Number.isFinite(pixels)) throw invalid(field, `${show(pixels)} is not a number of pixels`);
        if (pixels === 0) return [];
        const amount = Math.min(MAX_SCROLL_AMOUNT, Math.max(1, Math.round(Math.abs(pixels) / PIXELS_PER_WHEEL_CLICK)));
        return [{ action: 'scroll', direction: pixels < 0 ? negative : positive, amount, ...position }];
      };
      return [...scroll('scroll_y', 'up', 'down'), ...scroll('scroll_x', 'left', 'right')];
    }
    case 'type':
      return typeActions(text(fields.text, 'text', 'type'));
    case 'keypress':
      return [{ action: 'keypress', keys: keypressKeys(fields.keys) }];
    case 'wait':
      return [fields.ms === undefined ? { action: 'wait' } : { action: 'wait', durationMs: integer(fields.ms, 'ms', 0, MAX_WAIT_MS) }];
    case undefined:
      return missing('type', `one of ${OPENAI_ACTIONS.join(', ')}`);
    default:
      throw invalid('type', `${show(type)} is not a computer action; expected one of ${OPENAI_ACTIONS.join(', ')}`);
  }
}

/**
 * Characters OpenAI may name as keys, as X keysym names (the daemon's keypress takes
 * names, and knows OpenAI's spelled-out ones: CTRL, ENTER, ARROWLEFT, …).
 */
const PUNCTUATION_KEYS: Record<string, string> = {
  ' ': 'space',
  '-': 'minus',
  '=': 'equal',
  '+': 'plus',
  '/': 'slash',
  '\\': 'backslash',
  '.': 'period',
  ',': 'comma',
  ';': 'semicolon',
  "'": 'apostrophe',
  '`': 'grave',
  '[': 'bracketleft',
  ']': 'bracketright',
};

function keypressKeys(value: unknown): string[] {
  if (!Array.isArray(value) || value.length === 0 || value.length > 6) throw invalid('keys', 'expected 1 to 6 key names pressed together, e.g. ["CTRL", "A"]');
  const pattern = new RegExp(KEY_NAME_PATTERN);
  return value.map((key: unknown, i) => {
    const name = typeof key === 'string' ? (PUNCTUATION_KEYS[key] ?? key) : key;
    if (typeof name !== 'string' || !pattern.test(name)) throw invalid(`keys.${i}`, `${show(key)} is not a key name (e.g. "CTRL", "ENTER", "A", "/")`);
    return name;
  });
}

function openaiCoordinate(value: unknown, field: string, size: number): number {
  if (value === undefined) missing(field, 'the action needs x and y');
  if (!isCoordinate(value)) throw invalid(field, `${show(value)} is not a whole number of pixels`);
  if (value >= size) throw invalid(field, `${value} is off the screen (0 … ${size - 1})`);
  return value;
}

// ---------------------------------------------------------------------------------------
// Both

async function screenshot(sandbox: Sandbox): Promise<string> {
  return (await sandbox.computer.act({ action: 'screenshot' })).image!;
}

/** Text longer than one type action takes, in pieces that keep surrogate pairs whole. */
function typeActions(value: string): ComputerAction[] {
  const pieces: string[] = [];
  let piece = '';
  for (const character of value) {
    if (piece.length + character.length > MAX_TYPE_TEXT) {
      pieces.push(piece);
      piece = '';
    }
    piece += character;
  }
  pieces.push(piece);
  return pieces.map((text) => ({ action: 'type', text }));
}

function text(value: unknown, field: string, action: string): string {
  if (value === undefined) missing(field, `${action} needs it`);
  if (typeof value !== 'string' || value.length === 0) throw invalid(field, `${show(value)} is not a non-empty string`);
  return value;
}

function integer(value: unknown, field: string, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) throw invalid(field, `${show(value)} is not a whole number from ${min} to ${max}`);
  return value;
}

function isCoordinate(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= 0;
}

/** The object's fields; one the model set to null is one it left out (OpenAI sends `keys: null` on clicks). */
function record(value: unknown, field = 'action'): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw invalid(field, `expected an object, got ${show(value)}`);
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== null));
}

/** A value as the model sent it, short enough for an error message. */
function show(value: unknown): string {
  const json = JSON.stringify(value) ?? String(value);
  return json.length > 64 ? `${json.slice(0, 61)}...` : json;
}

function missing(field: string, why: string): never {
  throw invalid(field, `missing (${why})`);
}

function invalid(field: string, message: string): MicrovmError {
  return new MicrovmError('invalid_argument', `${field}: ${message}`, { details: { field } });
}

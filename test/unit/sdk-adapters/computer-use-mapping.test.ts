import { describe, expect, it } from 'vitest';
import { Value } from 'typebox/value';
import { ComputerActionSchema, MAX_TYPE_TEXT } from '../../../src/shared/api/computer-schemas.js';
import { anthropicToActions, openaiToActions } from '../../../src/sdk/adapters/computer-use.js';
import { MicrovmError } from '../../../src/sdk/index.js';

const screen = { width: 1280, height: 800 };

function refusal(run: () => unknown): MicrovmError {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(MicrovmError);
    expect((error as MicrovmError).code).toBe('invalid_argument');
    return error as MicrovmError;
  }
  throw new Error('expected a refusal');
}

/** Every mapped action is one the daemon's schema accepts. */
function valid<T>(actions: T[]): T[] {
  for (const action of actions) expect(Value.Check(ComputerActionSchema, action), JSON.stringify(action)).toBe(true);
  return actions;
}

describe("Anthropic's computer tool → computer actions", () => {
  const map = (input: unknown) => valid(anthropicToActions(input, screen));

  it('maps each action, coordinate [x, y] to x and y', () => {
    expect(map({ action: 'screenshot' })).toEqual([{ action: 'screenshot' }]);
    expect(map({ action: 'cursor_position' })).toEqual([{ action: 'cursor_position' }]);
    expect(map({ action: 'mouse_move', coordinate: [640, 400] })).toEqual([{ action: 'mouse_move', x: 640, y: 400 }]);
    for (const action of ['left_click', 'right_click', 'middle_click', 'double_click', 'triple_click', 'left_mouse_down', 'left_mouse_up']) {
      expect(map({ action, coordinate: [1, 2] })).toEqual([{ action, x: 1, y: 2 }]);
      // computer_20241022 clicks where the pointer is.
      expect(map({ action })).toEqual([{ action }]);
      expect(map({ action, coordinate: null, text: null })).toEqual([{ action }]);
    }
    expect(map({ action: 'left_click_drag', start_coordinate: [10, 20], coordinate: [1279, 799] })).toEqual([
      { action: 'left_click_drag', path: [{ x: 10, y: 20 }, { x: 1279, y: 799 }] },
    ]);
    expect(map({ action: 'scroll', coordinate: [5, 6], scroll_direction: 'down', scroll_amount: 4 })).toEqual([{ action: 'scroll', direction: 'down', amount: 4, x: 5, y: 6 }]);
    expect(map({ action: 'scroll', scroll_direction: 'left' })).toEqual([{ action: 'scroll', direction: 'left' }]);
    expect(map({ action: 'type', text: 'echo hi\n' })).toEqual([{ action: 'type', text: 'echo hi\n' }]);
    expect(map({ action: 'wait', duration: 1.5 })).toEqual([{ action: 'wait', durationMs: 1500 }]);
    expect(map({ action: 'wait' })).toEqual([{ action: 'wait', durationMs: 1000 }]);
  });

  it('splits key text at spaces into xdotool combinations, and long text into type actions', () => {
    expect(map({ action: 'key', text: 'ctrl+s' })).toEqual([{ action: 'key', keys: ['ctrl+s'] }]);
    expect(map({ action: 'key', text: ' ctrl+a  Delete Return ' })).toEqual([{ action: 'key', keys: ['ctrl+a', 'Delete', 'Return'] }]);
    const long = `${'a'.repeat(MAX_TYPE_TEXT - 1)}😀${'b'.repeat(10)}`;
    const pieces = map({ action: 'type', text: long }) as { text: string }[];
    expect(pieces.map((p) => p.text.length)).toEqual([MAX_TYPE_TEXT - 1, 12]);
    expect(pieces.map((p) => p.text).join('')).toBe(long);
  });

  it('refuses bad input naming the field', () => {
    expect(refusal(() => anthropicToActions({ action: 'fly' }, screen)).message).toMatch(/^action: "fly" is not an action of the computer tool; expected one of screenshot, /);
    expect(refusal(() => anthropicToActions({}, screen)).message).toMatch(/^action: missing/);
    expect(refusal(() => anthropicToActions('screenshot', screen)).message).toMatch(/^action: expected an object/);
    expect(refusal(() => anthropicToActions({ action: 'mouse_move' }, screen)).message).toBe('coordinate: missing (mouse_move needs it)');
    expect(refusal(() => anthropicToActions({ action: 'left_click_drag', coordinate: [1, 1] }, screen)).message).toMatch(/^start_coordinate: missing/);
    expect(refusal(() => anthropicToActions({ action: 'left_click', coordinate: [1280, 0] }, screen)).message).toMatch(/^coordinate: \[1280, 0\] is off the screen \(1280×800/);
    expect(refusal(() => anthropicToActions({ action: 'left_click', coordinate: [1.5, 0] }, screen)).message).toMatch(/^coordinate: \[1.5,0\] is not \[x, y\]/);
    expect(refusal(() => anthropicToActions({ action: 'left_click', coordinate: { x: 1, y: 1 } }, screen)).message).toMatch(/^coordinate: /);
    expect(refusal(() => anthropicToActions({ action: 'left_click', coordinate: [1, 1], text: 'shift' }, screen)).message).toMatch(/^text: holding keys during left_click is not supported/);
    expect(refusal(() => anthropicToActions({ action: 'scroll', coordinate: [1, 1] }, screen)).message).toMatch(/^scroll_direction: missing/);
    expect(refusal(() => anthropicToActions({ action: 'scroll', scroll_direction: 'sideways' }, screen)).message).toMatch(/^scroll_direction: "sideways" is not one of up, down, left, right/);
    expect(refusal(() => anthropicToActions({ action: 'scroll', scroll_direction: 'up', scroll_amount: 0 }, screen)).message).toMatch(/^scroll_amount: 0 is not a whole number from 1 to 50/);
    expect(refusal(() => anthropicToActions({ action: 'type' }, screen)).message).toBe('text: missing (type needs it)');
    expect(refusal(() => anthropicToActions({ action: 'key', text: '' }, screen)).message).toMatch(/^text: "" is not a non-empty string/);
    expect(refusal(() => anthropicToActions({ action: 'key', text: 'ctrl+; ls' }, screen)).message).toMatch(/^text: "ctrl\+;" is not an xdotool key/);
    expect(refusal(() => anthropicToActions({ action: 'key', text: '--help' }, screen)).message).toMatch(/^text: "--help" is not an xdotool key/);
    expect(refusal(() => anthropicToActions({ action: 'key', text: Array(33).fill('a').join(' ') }, screen)).message).toMatch(/^text: 33 keys; at most 32/);
    expect(refusal(() => anthropicToActions({ action: 'wait', duration: 11 }, screen)).message).toMatch(/^duration: 11 is not a number of seconds from 0 to 10/);
    expect(refusal(() => anthropicToActions({ action: 'hold_key', text: 'shift', duration: 1 }, screen)).message).toMatch(/^action: hold_key is not supported/);
    expect(refusal(() => anthropicToActions({ action: 'zoom', region: [0, 0, 10, 10] }, screen)).message).toMatch(/^action: zoom is not supported/);
    expect(refusal(() => anthropicToActions({ action: 'left_click', coordinate: [1, 1] }, { width: 1, height: 1 })).details).toEqual({ field: 'coordinate' });
  });
});

describe("OpenAI's computer_use_preview actions → computer actions", () => {
  const map = (input: unknown) => valid(openaiToActions(input, screen));

  it('maps clicks, moves, drags, typing and waits', () => {
    expect(map({ type: 'screenshot' })).toEqual([]);
    expect(map({ type: 'click', button: 'right', x: 10, y: 20 })).toEqual([{ action: 'click', button: 'right', x: 10, y: 20 }]);
    expect(map({ type: 'click', button: 'wheel', x: 0, y: 0 })).toEqual([{ action: 'click', button: 'wheel', x: 0, y: 0 }]);
    expect(map({ type: 'click', x: 1, y: 1, keys: [] })).toEqual([{ action: 'click', button: 'left', x: 1, y: 1 }]);
    expect(map({ type: 'click', button: 'left', x: 1, y: 1, keys: null })).toEqual([{ action: 'click', button: 'left', x: 1, y: 1 }]);
    expect(map({ type: 'double_click', x: 3, y: 4 })).toEqual([{ action: 'double_click', x: 3, y: 4 }]);
    expect(map({ type: 'move', x: 1279, y: 799 })).toEqual([{ action: 'move', x: 1279, y: 799 }]);
    expect(map({ type: 'drag', path: [{ x: 1, y: 2 }, { x: 3, y: 4 }, { x: 5, y: 6 }] })).toEqual([{ action: 'drag', path: [{ x: 1, y: 2 }, { x: 3, y: 4 }, { x: 5, y: 6 }] }]);
    expect(map({ type: 'type', text: 'hello' })).toEqual([{ action: 'type', text: 'hello' }]);
    expect(map({ type: 'wait' })).toEqual([{ action: 'wait' }]);
    expect(map({ type: 'wait', ms: 250 })).toEqual([{ action: 'wait', durationMs: 250 }]);
  });

  it('turns scroll pixels into wheel clicks, the sign giving the direction', () => {
    expect(map({ type: 'scroll', x: 100, y: 200, scroll_x: 0, scroll_y: 300 })).toEqual([{ action: 'scroll', direction: 'down', amount: 3, x: 100, y: 200 }]);
    expect(map({ type: 'scroll', x: 100, y: 200, scroll_x: 0, scroll_y: -20 })).toEqual([{ action: 'scroll', direction: 'up', amount: 1, x: 100, y: 200 }]);
    expect(map({ type: 'scroll', x: 1, y: 1, scroll_x: -250, scroll_y: 0 })).toEqual([{ action: 'scroll', direction: 'left', amount: 3, x: 1, y: 1 }]);
    expect(map({ type: 'scroll', x: 1, y: 1, scroll_x: 100, scroll_y: 100_000 })).toEqual([
      { action: 'scroll', direction: 'down', amount: 50, x: 1, y: 1 },
      { action: 'scroll', direction: 'right', amount: 1, x: 1, y: 1 },
    ]);
    expect(map({ type: 'scroll', x: 1, y: 1, scroll_x: 0, scroll_y: 0 })).toEqual([]);
  });

  it('passes key names to keypress, punctuation as keysym names', () => {
    expect(map({ type: 'keypress', keys: ['CTRL', 'A'] })).toEqual([{ action: 'keypress', keys: ['CTRL', 'A'] }]);
    expect(map({ type: 'keypress', keys: ['ENTER'] })).toEqual([{ action: 'keypress', keys: ['ENTER'] }]);
    expect(map({ type: 'keypress', keys: ['CTRL', '/'] })).toEqual([{ action: 'keypress', keys: ['CTRL', 'slash'] }]);
    expect(map({ type: 'keypress', keys: ['CTRL', 'SHIFT', '-'] })).toEqual([{ action: 'keypress', keys: ['CTRL', 'SHIFT', 'minus'] }]);
  });

  it('refuses bad input naming the field', () => {
    expect(refusal(() => openaiToActions({ type: 'teleport' }, screen)).message).toMatch(/^type: "teleport" is not a computer action; expected one of click, /);
    expect(refusal(() => openaiToActions({}, screen)).message).toMatch(/^type: missing/);
    expect(refusal(() => openaiToActions(null, screen)).message).toMatch(/^action: expected an object/);
    expect(refusal(() => openaiToActions({ type: 'click', button: 'left', y: 1 }, screen)).message).toBe('x: missing (the action needs x and y)');
    expect(refusal(() => openaiToActions({ type: 'click', button: 'left', x: 1, y: 800 }, screen)).message).toBe('y: 800 is off the screen (0 … 799)');
    expect(refusal(() => openaiToActions({ type: 'click', button: 'left', x: -1, y: 1 }, screen)).message).toMatch(/^x: -1 is not a whole number of pixels/);
    expect(refusal(() => openaiToActions({ type: 'click', button: 'middle-ish', x: 1, y: 1 }, screen)).message).toMatch(/^button: "middle-ish" is not one of left, right, wheel, back, forward/);
    expect(refusal(() => openaiToActions({ type: 'click', button: 'left', x: 1, y: 1, keys: ['SHIFT'] }, screen)).message).toMatch(/^keys: holding keys during a click is not supported/);
    expect(refusal(() => openaiToActions({ type: 'drag', path: [{ x: 1, y: 1 }] }, screen)).message).toMatch(/^path: expected 2 to 64 points/);
    expect(refusal(() => openaiToActions({ type: 'drag', path: [{ x: 1, y: 1 }, { x: 2000, y: 1 }] }, screen)).message).toMatch(/^path\.1\.x: 2000 is off the screen/);
    expect(refusal(() => openaiToActions({ type: 'drag', path: [{ x: 1, y: 1 }, 7] }, screen)).message).toMatch(/^path\.1: expected an object/);
    expect(refusal(() => openaiToActions({ type: 'scroll', x: 1, y: 1, scroll_y: 'lots' }, screen)).message).toMatch(/^scroll_y: "lots" is not a number of pixels/);
    expect(refusal(() => openaiToActions({ type: 'keypress', keys: [] }, screen)).message).toMatch(/^keys: expected 1 to 6 key names/);
    expect(refusal(() => openaiToActions({ type: 'keypress', keys: ['CTRL', 'ä'] }, screen)).message).toMatch(/^keys\.1: "ä" is not a key name/);
    expect(refusal(() => openaiToActions({ type: 'type' }, screen)).message).toBe('text: missing (type needs it)');
    expect(refusal(() => openaiToActions({ type: 'wait', ms: 60_000 }, screen)).message).toMatch(/^ms: 60000 is not a whole number from 0 to 10000/);
  });
});

import { describe, expect, it } from 'vitest';
import { ComputerActionSchema, COMPUTER_ACTION_NAMES, MAX_TYPE_TEXT } from '../../../src/shared/api/computer-schemas.js';
import { checkOnScreen, keypressCombo, parseComputerAction, parseMouseLocation, unknownKeyNames, xdotoolArgv } from '../../../src/main/core/computer/computer-actions.js';
import { cliComputerAction } from '../../../src/main/cli/commands/computer-commands.js';
import { SandboxError } from '../../../src/main/core/errors/sandbox-error.js';
import { Value } from 'typebox/value';

const screen = { width: 1280, height: 800 };

function refusal(run: () => unknown): SandboxError {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(SandboxError);
    return error as SandboxError;
  }
  throw new Error('expected a refusal');
}

describe('computer actions: checking', () => {
  it('knows both vocabularies (Anthropic and OpenAI names) and nothing else', () => {
    for (const name of ['screenshot', 'left_click', 'right_click', 'middle_click', 'double_click', 'triple_click', 'mouse_move', 'left_click_drag', 'scroll', 'type', 'key', 'cursor_position', 'left_mouse_down', 'left_mouse_up', 'wait']) {
      expect(COMPUTER_ACTION_NAMES).toContain(name);
    }
    for (const name of ['click', 'double_click', 'drag', 'keypress', 'move', 'screenshot', 'scroll', 'type', 'wait']) expect(COMPUTER_ACTION_NAMES).toContain(name);
    const error = refusal(() => parseComputerAction({ action: 'rm_rf' }));
    expect(error.code).toBe('invalid_argument');
    expect(error.message).toMatch(/^action: "rm_rf" is not an action; expected one of screenshot, /);
  });

  it('names the wrong field', () => {
    expect(refusal(() => parseComputerAction({ action: 'mouse_move', x: 10 })).message).toMatch(/^y: /);
    expect(refusal(() => parseComputerAction({ action: 'left_click', x: -1, y: 3 })).message).toMatch(/^x: must be >= 0/);
    expect(refusal(() => parseComputerAction({ action: 'left_click', x: 1.5, y: 3 })).message).toMatch(/^x: /);
    expect(refusal(() => parseComputerAction({ action: 'left_click', x: 10 })).message).toBe('y: left_click: give both x and y, or neither (to act where the pointer is)');
    expect(refusal(() => parseComputerAction({ action: 'click', x: 1, y: 1, button: 'huge' })).message).toMatch(/^button: /);
    expect(refusal(() => parseComputerAction({ action: 'type', text: 'a', shell: 'rm -rf /' })).message).toMatch(/^shell: "shell" is not a field of the type action/);
    expect(refusal(() => parseComputerAction({ action: 'drag', path: [{ x: 1, y: 1 }] })).message).toMatch(/^path: /);
    expect(refusal(() => parseComputerAction({ action: 'scroll', direction: 'sideways' })).message).toMatch(/^direction: /);
    expect(refusal(() => parseComputerAction('screenshot')).message).toMatch(/^action: expected a JSON object/);
  });

  it('limits text and refuses what cannot be typed', () => {
    expect(parseComputerAction({ action: 'type', text: 'echo hi > /tmp/typed\n' })).toEqual({ action: 'type', text: 'echo hi > /tmp/typed\n' });
    expect(refusal(() => parseComputerAction({ action: 'type', text: 'x'.repeat(MAX_TYPE_TEXT + 1) })).message).toMatch(/^text: /);
    expect(refusal(() => parseComputerAction({ action: 'type', text: '' })).message).toMatch(/^text: /);
    expect(refusal(() => parseComputerAction({ action: 'type', text: 'a\u0000b' })).message).toMatch(/^text: contains control characters/);
  });

  it('accepts key names only by pattern: nothing that looks like an option or a shell word', () => {
    expect(parseComputerAction({ action: 'key', keys: ['ctrl+alt+Delete', 'Return', 'a', 'KP_Enter', 'F5'] })).toBeTruthy();
    for (const bad of ['--help', '-x', 'ctrl+', '+a', 'a b', '$(reboot)', 'ctrl+alt+shift+super+meta+hyper+x', '', 'x'.repeat(33)]) {
      expect(refusal(() => parseComputerAction({ action: 'key', keys: [bad] })).message, bad).toMatch(/^keys\.0: /);
    }
    expect(refusal(() => parseComputerAction({ action: 'keypress', keys: ['CTRL+A'] })).message).toMatch(/^keys\.0: /);
  });

  it('refuses coordinates off the screen, naming the field', () => {
    checkOnScreen(parseComputerAction({ action: 'left_click', x: 1279, y: 799 }), screen);
    expect(refusal(() => checkOnScreen(parseComputerAction({ action: 'left_click', x: 1280, y: 0 }), screen)).message).toBe('x: 1280 is off the screen (0 … 1279)');
    expect(refusal(() => checkOnScreen(parseComputerAction({ action: 'scroll', direction: 'down', x: 0, y: 800 }), screen)).message).toBe('y: 800 is off the screen (0 … 799)');
    const drag = parseComputerAction({ action: 'left_click_drag', path: [{ x: 1, y: 1 }, { x: 5, y: 9000 }] });
    expect(refusal(() => checkOnScreen(drag, screen)).message).toBe('path.1.y: 9000 is off the screen (0 … 799)');
  });

  it('every action of the union passes the route schema too', () => {
    const samples: unknown[] = [
      { action: 'screenshot' },
      { action: 'move', x: 1, y: 2 },
      { action: 'click', button: 'right' },
      { action: 'drag', path: [{ x: 1, y: 1 }, { x: 2, y: 2 }] },
      { action: 'keypress', keys: ['CTRL', 'A'] },
      { action: 'wait' },
    ];
    for (const sample of samples) {
      expect(Value.Check(ComputerActionSchema, sample), JSON.stringify(sample)).toBe(true);
      expect(parseComputerAction(sample)).toEqual(sample);
    }
  });
});

describe('computer actions: xdotool argv', () => {
  const argv = (action: unknown) => xdotoolArgv(parseComputerAction(action));

  it('moves first when the action has a position, in one xdotool invocation', () => {
    expect(argv({ action: 'left_click', x: 10, y: 20 })).toEqual(['mousemove', '10', '20', 'click', '1']);
    expect(argv({ action: 'left_click' })).toEqual(['click', '1']);
    expect(argv({ action: 'right_click', x: 1, y: 2 })).toEqual(['mousemove', '1', '2', 'click', '3']);
    expect(argv({ action: 'middle_click' })).toEqual(['click', '2']);
    expect(argv({ action: 'double_click', x: 5, y: 6 })).toEqual(['mousemove', '5', '6', 'click', '--repeat', '2', '--delay', '100', '1']);
    expect(argv({ action: 'triple_click' })).toEqual(['click', '--repeat', '3', '--delay', '100', '1']);
    expect(argv({ action: 'click', x: 3, y: 4, button: 'wheel' })).toEqual(['mousemove', '3', '4', 'click', '2']);
    expect(argv({ action: 'click', button: 'back', count: 2 })).toEqual(['click', '--repeat', '2', '--delay', '100', '8']);
    expect(argv({ action: 'move', x: 7, y: 8 })).toEqual(['mousemove', '7', '8']);
    expect(argv({ action: 'left_mouse_down' })).toEqual(['mousedown', '1']);
    expect(argv({ action: 'left_mouse_up', x: 1, y: 1 })).toEqual(['mousemove', '1', '1', 'mouseup', '1']);
  });

  it('drags through every point and scrolls with wheel buttons', () => {
    expect(argv({ action: 'drag', path: [{ x: 1, y: 2 }, { x: 3, y: 4 }, { x: 5, y: 6 }] })).toEqual([
      'mousemove', '1', '2', 'mousedown', '1',
      'sleep', '0.05', 'mousemove', '3', '4',
      'sleep', '0.05', 'mousemove', '5', '6',
      'sleep', '0.05', 'mouseup', '1',
    ]);
    expect(argv({ action: 'scroll', direction: 'down' })).toEqual(['click', '--repeat', '3', '--delay', '30', '5']);
    expect(argv({ action: 'scroll', direction: 'up', amount: 10, x: 100, y: 200 })).toEqual(['mousemove', '100', '200', 'click', '--repeat', '10', '--delay', '30', '4']);
    expect(argv({ action: 'scroll', direction: 'left', amount: 1 })?.at(-1)).toBe('6');
    expect(argv({ action: 'scroll', direction: 'right', amount: 1 })?.at(-1)).toBe('7');
  });

  it('puts text and keys after --, so neither can be read as an option', () => {
    expect(argv({ action: 'type', text: '--help me' })).toEqual(['type', '--delay', '12', '--', '--help me']);
    expect(argv({ action: 'type', text: 'x', delayMs: 0 })).toEqual(['type', '--delay', '0', '--', 'x']);
    expect(argv({ action: 'key', keys: ['ctrl+alt+Delete', 'Return'] })).toEqual(['key', '--', 'ctrl+alt+Delete', 'Return']);
    expect(argv({ action: 'keypress', keys: ['CTRL', 'ALT', 'DELETE'] })).toEqual(['key', '--', 'ctrl+alt+Delete']);
  });

  it('leaves screenshot, screen_size and wait to others, and reads the pointer with --shell', () => {
    expect(argv({ action: 'screenshot' })).toBeNull();
    expect(argv({ action: 'screen_size' })).toBeNull();
    expect(argv({ action: 'wait', durationMs: 5 })).toBeNull();
    expect(argv({ action: 'cursor_position' })).toEqual(['getmouselocation', '--shell']);
    expect(parseMouseLocation('X=640\nY=400\nSCREEN=0\nWINDOW=1293\n')).toEqual({ x: 640, y: 400 });
  });

  it("maps OpenAI's key names to X keysyms", () => {
    expect(keypressCombo(['ENTER'])).toBe('Return');
    expect(keypressCombo(['CTRL', 'A'])).toBe('ctrl+a');
    expect(keypressCombo(['Control', 'Shift', 'ArrowLeft'])).toBe('ctrl+shift+Left');
    expect(keypressCombo(['META', 'f5'])).toBe('super+F5');
    expect(keypressCombo(['ESC', 'Backspace', 'PageDown', 'space', 'KP_Enter'])).toBe('Escape+BackSpace+Page_Down+space+KP_Enter');
  });

  it("reads xdotool's complaint about key names it does not know", () => {
    const stderr = "(symbol) No such key name 'bogus'. Ignoring it.\n(symbol) No such key name 'zz'. Ignoring it.\n(symbol) No such key name 'bogus'. Ignoring it.\n";
    expect(unknownKeyNames(stderr)).toEqual(['bogus', 'zz']);
    expect(unknownKeyNames('')).toEqual([]);
  });
});

describe('the computer command line', () => {
  it('turns words into actions', () => {
    expect(cliComputerAction('click', ['10', '20'], { button: 'right', count: '2' })).toEqual({ action: 'click', x: 10, y: 20, button: 'right', count: 2 });
    expect(cliComputerAction('click', [])).toEqual({ action: 'click' });
    expect(cliComputerAction('type', ['echo hi'], { delay: '5' })).toEqual({ action: 'type', text: 'echo hi', delayMs: 5 });
    expect(cliComputerAction('key', ['ctrl+alt+Delete', 'Return'])).toEqual({ action: 'key', keys: ['ctrl+alt+Delete', 'Return'] });
    expect(cliComputerAction('scroll', ['down', '5', '100', '200'])).toEqual({ action: 'scroll', direction: 'down', amount: 5, x: 100, y: 200 });
    expect(cliComputerAction('drag', ['1', '2', '3', '4'])).toEqual({ action: 'drag', path: [{ x: 1, y: 2 }, { x: 3, y: 4 }] });
    expect(cliComputerAction('cursor', [])).toEqual({ action: 'cursor_position' });
    expect(cliComputerAction('size', [])).toEqual({ action: 'screen_size' });
    expect(cliComputerAction('act', ['{"action":"triple_click"}'])).toEqual({ action: 'triple_click' });
  });

  it('refuses what cannot mean anything, as a usage error', () => {
    expect(() => cliComputerAction('click', ['10'])).toThrow('click: expected [X Y]');
    expect(() => cliComputerAction('move', ['-1', '2'])).toThrow(/X must be a whole number/);
    expect(() => cliComputerAction('scroll', ['sideways'])).toThrow(/direction must be one of up, down, left, right/);
    expect(() => cliComputerAction('drag', ['1', '2', '3'])).toThrow(/pairs of coordinates/);
    expect(() => cliComputerAction('launch', [])).toThrow(/"launch" is not a computer action/);
  });
});

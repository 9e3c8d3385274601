import { Type, type Static } from 'typebox';

/**
 * Computer use: one action per request, in a vocabulary that is the union of Anthropic's
 * computer-use tool (left_click, left_click_drag, key, cursor_position, …) and OpenAI's
 * (click{button}, drag{path}, keypress{keys}, move, …), so an adapter from either is a
 * rename (docs/computer-use.md has the mapping table). Coordinates are screen pixels,
 * x to the right and y down from the top-left corner, always as `x` and `y`.
 */

/** The longest text one `type` action types. */
export const MAX_TYPE_TEXT = 4096;
/** How many key combinations one `key` action presses, and points one drag passes through. */
export const MAX_KEY_COMBOS = 32;
export const MAX_DRAG_POINTS = 64;
export const MAX_SCROLL_AMOUNT = 50;
export const MAX_WAIT_MS = 10_000;
/**
 * A key or a combination, as xdotool names them: keysym names joined by `+`
 * ("Return", "ctrl+alt+Delete", "shift+F10", "a"). Nothing else can reach xdotool.
 */
export const KEY_COMBO_PATTERN = '^[A-Za-z0-9_]{1,32}(\\+[A-Za-z0-9_]{1,32}){0,5}$';
/** One key name of a `keypress` (OpenAI: the keys pressed together, e.g. ["CTRL", "A"]). */
export const KEY_NAME_PATTERN = '^[A-Za-z0-9_]{1,32}$';

const Coordinate = (axis: 'x' | 'y') =>
  Type.Integer({ minimum: 0, description: axis === 'x' ? 'Pixels from the left edge (0 … width-1)' : 'Pixels from the top edge (0 … height-1)' });
const X = Coordinate('x');
const Y = Coordinate('y');
const Point = Type.Object({ x: X, y: Y }, { additionalProperties: false });
export type ComputerPoint = Static<typeof Point>;

const strict = { additionalProperties: false } as const;

/** Where a click happens: both x and y, or neither (the pointer's current position). */
const OptionalAt = { x: Type.Optional(X), y: Type.Optional(Y) };

export const SCROLL_DIRECTIONS = ['up', 'down', 'left', 'right'] as const;
export type ScrollDirection = (typeof SCROLL_DIRECTIONS)[number];
export const CLICK_BUTTONS = ['left', 'right', 'middle', 'wheel', 'back', 'forward'] as const;
export type ClickButton = (typeof CLICK_BUTTONS)[number];

/** Each member of the union, by the action names it answers to. */
export const COMPUTER_ACTION_SCHEMAS = {
  screenshot: Type.Object({ action: Type.Enum(['screenshot'] as const) }, { ...strict, description: 'A PNG of the whole screen (base64 in `image`)' }),
  cursor_position: Type.Object({ action: Type.Enum(['cursor_position'] as const) }, { ...strict, description: "The pointer's position" }),
  screen_size: Type.Object({ action: Type.Enum(['screen_size'] as const) }, { ...strict, description: "The screen's width and height" }),
  mouse_move: Type.Object({ action: Type.Enum(['mouse_move', 'move'] as const), x: X, y: Y }, { ...strict, description: 'Moves the pointer' }),
  named_click: Type.Object(
    { action: Type.Enum(['left_click', 'right_click', 'middle_click', 'double_click', 'triple_click'] as const), ...OptionalAt },
    { ...strict, description: 'A click of the named kind at x,y (or where the pointer is); double and triple clicks use the left button' },
  ),
  click: Type.Object(
    {
      action: Type.Enum(['click'] as const),
      ...OptionalAt,
      button: Type.Optional(Type.Enum(CLICK_BUTTONS, { description: 'left when omitted; wheel is the middle button' })),
      count: Type.Optional(Type.Integer({ minimum: 1, maximum: 3, description: '2 for a double click, 3 for a triple click' })),
    },
    { ...strict, description: 'A click with any button at x,y (or where the pointer is)' },
  ),
  mouse_button: Type.Object(
    { action: Type.Enum(['left_mouse_down', 'left_mouse_up'] as const), ...OptionalAt },
    { ...strict, description: 'Presses or releases the left button, at x,y or where the pointer is' },
  ),
  drag: Type.Object(
    {
      action: Type.Enum(['left_click_drag', 'drag'] as const),
      path: Type.Array(Point, { minItems: 2, maxItems: MAX_DRAG_POINTS, description: 'Press at the first point, move through the rest, release at the last' }),
    },
    { ...strict, description: 'Drags with the left button held' },
  ),
  scroll: Type.Object(
    {
      action: Type.Enum(['scroll'] as const),
      ...OptionalAt,
      direction: Type.Enum(SCROLL_DIRECTIONS),
      amount: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_SCROLL_AMOUNT, description: 'Wheel clicks; 3 when omitted' })),
    },
    { ...strict, description: 'Turns the wheel at x,y (or where the pointer is)' },
  ),
  type: Type.Object(
    {
      action: Type.Enum(['type'] as const),
      text: Type.String({ minLength: 1, maxLength: MAX_TYPE_TEXT, description: 'Typed as keystrokes into the focused window; "\\n" presses Return' }),
      delayMs: Type.Optional(Type.Integer({ minimum: 0, maximum: 200, description: 'Between keystrokes; 12 when omitted' })),
    },
    { ...strict, description: 'Types text' },
  ),
  key: Type.Object(
    {
      action: Type.Enum(['key'] as const),
      keys: Type.Array(Type.String({ pattern: KEY_COMBO_PATTERN }), {
        minItems: 1,
        maxItems: MAX_KEY_COMBOS,
        description: 'Keys or combinations pressed one after another, xdotool names: "Return", "ctrl+a", "ctrl+alt+Delete"',
      }),
    },
    { ...strict, description: 'Presses keys and key combinations' },
  ),
  keypress: Type.Object(
    {
      action: Type.Enum(['keypress'] as const),
      keys: Type.Array(Type.String({ pattern: KEY_NAME_PATTERN }), {
        minItems: 1,
        maxItems: 6,
        description: 'Keys pressed together, one combination (OpenAI style, any case): ["CTRL", "ALT", "DELETE"], ["ENTER"]',
      }),
    },
    { ...strict, description: 'Presses one key combination given as separate key names' },
  ),
  wait: Type.Object(
    { action: Type.Enum(['wait'] as const), durationMs: Type.Optional(Type.Integer({ minimum: 0, maximum: MAX_WAIT_MS, description: '1000 when omitted' })) },
    { ...strict, description: 'Waits, then does nothing' },
  ),
} as const;

const A = COMPUTER_ACTION_SCHEMAS;
export const ComputerActionSchema = Type.Union(
  [A.screenshot, A.cursor_position, A.screen_size, A.mouse_move, A.named_click, A.click, A.mouse_button, A.drag, A.scroll, A.type, A.key, A.keypress, A.wait],
  {
    description: 'One computer-use action; docs/computer-use.md maps the Anthropic and OpenAI tool actions onto these',
  },
);
export type ComputerAction = Static<typeof ComputerActionSchema>;
export type ComputerActionName = ComputerAction['action'];

/** Every action name, in the order the docs list them. */
export const COMPUTER_ACTION_NAMES = Object.values(COMPUTER_ACTION_SCHEMAS).flatMap((schema) => {
  return (schema.properties.action as unknown as { enum: string[] }).enum;
}) as ComputerActionName[];

export const ComputerResultSchema = Type.Object(
  {
    action: Type.String({ description: 'The action that ran' }),
    durationMs: Type.Number({ description: 'How long it took, in the daemon' }),
    x: Type.Optional(Type.Integer({ description: 'cursor_position: the pointer' })),
    y: Type.Optional(Type.Integer()),
    width: Type.Optional(Type.Integer({ description: 'screen_size and screenshot: the screen' })),
    height: Type.Optional(Type.Integer()),
    image: Type.Optional(Type.String({ contentEncoding: 'base64', description: 'screenshot: the PNG, base64' })),
    mimeType: Type.Optional(Type.Literal('image/png')),
  },
  { additionalProperties: false },
);
export type ComputerResult = Static<typeof ComputerResultSchema>;

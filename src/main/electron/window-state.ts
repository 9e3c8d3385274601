import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

export interface Rectangle {
  x: number;
  y: number;
  width: number;
  height: number;
}

/** Size and place of the main window; x and y are absent until the window was first placed. */
export interface WindowState {
  x?: number;
  y?: number;
  width: number;
  height: number;
  maximized: boolean;
}

export const DEFAULT_WINDOW_STATE: WindowState = { width: 1280, height: 800, maximized: false };
export const MIN_WINDOW_SIZE = { width: 720, height: 480 };
/** How much of the window's title bar must land on a display for the saved place to count. */
const VISIBLE_GRIP = { width: 120, height: 40 };

/**
 * The saved window state from userData, fitted to the displays there are now: a file that
 * is missing, unreadable or malformed gives the default, and a place no display shows
 * anymore (an unplugged monitor) is dropped so the window opens centred.
 */
export function readWindowState(file: string, workAreas: Rectangle[]): WindowState {
  let saved: unknown;
  try {
    saved = JSON.parse(readFileSync(file, 'utf8'));
  } catch {
    return fitToDisplays(DEFAULT_WINDOW_STATE, workAreas);
  }
  return fitToDisplays(parseWindowState(saved) ?? DEFAULT_WINDOW_STATE, workAreas);
}

export function writeWindowState(file: string, state: WindowState): void {
  mkdirSync(dirname(file), { recursive: true });
  // Written aside and renamed: a crash mid-write leaves the previous state, not half a file.
  const partial = `${file}.tmp`;
  writeFileSync(partial, `${JSON.stringify(state)}\n`);
  renameSync(partial, file);
}

function parseWindowState(value: unknown): WindowState | null {
  if (typeof value !== 'object' || value === null) return null;
  const { x, y, width, height, maximized } = value as Record<string, unknown>;
  const whole = (n: unknown): n is number => Number.isSafeInteger(n);
  if (!whole(width) || !whole(height) || width <= 0 || height <= 0 || typeof maximized !== 'boolean') return null;
  const placed = whole(x) && whole(y);
  return { ...(placed ? { x, y } : {}), width, height, maximized };
}

/** Shrinks the window to fit its display and forgets a place no display shows enough of. */
export function fitToDisplays(state: WindowState, workAreas: Rectangle[]): WindowState {
  const { x, y } = state;
  const home = x !== undefined && y !== undefined ? workAreas.find((area) => gripVisible({ x, y, width: state.width }, area)) : undefined;
  const area = home ?? workAreas[0];
  const clamp = (size: number, min: number, max: number | undefined) => Math.max(min, max === undefined ? size : Math.min(size, max));
  const width = clamp(state.width, MIN_WINDOW_SIZE.width, area?.width);
  const height = clamp(state.height, MIN_WINDOW_SIZE.height, area?.height);
  if (!home || x === undefined || y === undefined) return { width, height, maximized: state.maximized };
  // Pulled back inside its display so the shrunken window does not hang off an edge.
  return {
    x: Math.min(Math.max(x, home.x), home.x + home.width - width),
    y: Math.min(Math.max(y, home.y), home.y + home.height - height),
    width,
    height,
    maximized: state.maximized,
  };
}

function gripVisible(window: { x: number; y: number; width: number }, area: Rectangle): boolean {
  const left = Math.max(window.x, area.x);
  const right = Math.min(window.x + window.width, area.x + area.width);
  const top = Math.max(window.y, area.y);
  const bottom = Math.min(window.y + VISIBLE_GRIP.height, area.y + area.height);
  return right - left >= VISIBLE_GRIP.width && bottom - top >= VISIBLE_GRIP.height;
}

import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { DEFAULT_WINDOW_STATE, readWindowState, writeWindowState, type Rectangle } from '../../src/main/electron/window-state.js';

let dir: string;
let file: string;
const laptop: Rectangle = { x: 0, y: 0, width: 1920, height: 1050 };
const monitorOnRight: Rectangle = { x: 1920, y: 0, width: 2560, height: 1410 };

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'window-state-'));
  file = join(dir, 'userData', 'window-state.json');
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

it('starts with the default size, centred, when nothing was saved', () => {
  expect(readWindowState(file, [laptop])).toEqual(DEFAULT_WINDOW_STATE);
  expect(DEFAULT_WINDOW_STATE).not.toHaveProperty('x');
});

it('restores what it saved, creating userData on the way', async () => {
  const state = { x: 2100, y: 80, width: 1400, height: 900, maximized: true };
  writeWindowState(file, state);
  expect(JSON.parse(await readFile(file, 'utf8'))).toEqual(state);
  expect(readWindowState(file, [laptop, monitorOnRight])).toEqual(state);
});

it('falls back to the default for a corrupt or malformed file', async () => {
  writeWindowState(file, DEFAULT_WINDOW_STATE);
  for (const content of ['{"width": 1400, "hei', '[]', 'null', '{"width": "wide", "height": 900, "maximized": false}', '{"width": 1400, "height": -5, "maximized": false}', '{"width": 1400, "height": 900}']) {
    await writeFile(file, content);
    expect(readWindowState(file, [laptop]), content).toEqual(DEFAULT_WINDOW_STATE);
  }
});

it('ignores a place given by only one coordinate', async () => {
  writeWindowState(file, DEFAULT_WINDOW_STATE);
  await writeFile(file, JSON.stringify({ x: 100, width: 1000, height: 700, maximized: false }));
  expect(readWindowState(file, [laptop])).toEqual({ width: 1000, height: 700, maximized: false });
});

it('forgets a place on a display that is gone, keeping the size', () => {
  writeWindowState(file, { x: 2100, y: 80, width: 1400, height: 900, maximized: false });
  expect(readWindowState(file, [laptop])).toEqual({ width: 1400, height: 900, maximized: false });
});

it('shrinks a window larger than its display and pulls it back inside', () => {
  writeWindowState(file, { x: 1800, y: 10, width: 4000, height: 3000, maximized: false });
  // Its title bar shows on the laptop (x 1800..1920 at the top), so that is its display.
  expect(readWindowState(file, [laptop, monitorOnRight])).toEqual({ x: 0, y: 0, width: 1920, height: 1050, maximized: false });
});

it('never goes below the minimum size', () => {
  writeWindowState(file, { x: 10, y: 10, width: 50, height: 20, maximized: false });
  const state = readWindowState(file, [laptop]);
  expect(state.width).toBeGreaterThanOrEqual(720);
  expect(state.height).toBeGreaterThanOrEqual(480);
});

it('keeps a window whose title bar is only just visible', () => {
  writeWindowState(file, { x: 1700, y: 900, width: 1000, height: 700, maximized: false });
  // 220 px of its title bar show on the laptop: it stays there, pulled fully inside.
  expect(readWindowState(file, [laptop])).toEqual({ x: 920, y: 350, width: 1000, height: 700, maximized: false });
});

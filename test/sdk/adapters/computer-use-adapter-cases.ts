import { beforeAll, describe, expect, it } from 'vitest';
import {
  anthropicComputerTool,
  openaiComputerTool,
  type AnthropicComputerTool,
  type AnthropicToolResultBlock,
  type OpenaiComputerTool,
} from '../../../src/sdk/adapters/computer-use.js';
import { MicrovmError, type Sandbox } from '../../../src/sdk/index.js';
import { decodePng } from '../../support/png-pixels.js';

/**
 * The Anthropic and OpenAI computer-use adapters against a desktop sandbox someone else
 * booted (a desktop boot costs minutes under TCG): test/api/computer-display.test.ts calls
 * this with its 1280×800 desktop. The cases open their own xterm below the others, type
 * into it, and leave the rest of the screen alone (the wheel over openbox's bare desktop
 * would switch virtual desktops).
 */
export function computerUseAdapterCases(sandbox: () => Sandbox): void {
  describe('computer-use adapters (Anthropic, OpenAI)', () => {
    let anthropic: AnthropicComputerTool;
    let openai: OpenaiComputerTool;
    // Its window: 60×10 characters at 200,500, clear of the template's and the other tests' xterms.
    const inside = { x: 300, y: 560 };

    const exec = (command: string) => sandbox().exec(command, { env: { DISPLAY: ':0' } });
    const pngOf = (base64: string) => decodePng(Buffer.from(base64, 'base64'));
    const fileContent = async (path: string) => until(path, async () => ((await sandbox().files.exists(path)) ? String(await sandbox().files.read(path)) : null));

    beforeAll(async () => {
      // The settle delay is for a model's benefit; xdotool has finished when act() answers.
      anthropic = await anthropicComputerTool(sandbox(), { settleMs: 0 });
      openai = await openaiComputerTool(sandbox(), { settleMs: 0 });
      expect((await exec('setsid -f xterm -title adapters -geometry 60x10+200+500 -e /bin/sh >/dev/null 2>&1 < /dev/null')).exitCode).toBe(0);
      // An xterm's first start in a TCG guest takes a while (fonts): wait until it is mapped.
      await until('the adapters xterm', async () => (await exec("xdotool search --onlyvisible --name '^adapters$'")).exitCode === 0, 120_000);
    });

    it('describes the screen to each model and answers screenshots as PNGs of the screen', async () => {
      const { width, height } = await sandbox().computer.screenSize();
      expect(anthropic.definition).toEqual({ type: 'computer_20250124', name: 'computer', display_width_px: width, display_height_px: height });
      expect(anthropic.beta).toBe('computer-use-2025-01-24');
      expect(openai.definition).toEqual({ type: 'computer_use_preview', display_width: width, display_height: height, environment: 'linux' });

      const blocks = await anthropic.run({ action: 'screenshot' });
      expect(blocks).toHaveLength(1);
      expect(blocks[0]).toMatchObject({ type: 'image', source: { type: 'base64', media_type: 'image/png' } });
      expect(pngOf(imageData(blocks[0]!))).toMatchObject({ width, height });

      const shot = await openai.run({ type: 'screenshot' });
      expect(shot.type).toBe('computer_screenshot');
      expect(shot.image_url).toMatch(/^data:image\/png;base64,/);
      expect(pngOf(shot.image_url.slice('data:image/png;base64,'.length))).toMatchObject({ width, height });
    });

    it('moves the pointer where a click, move or drag says, and reads it back', async () => {
      const after = await anthropic.run({ action: 'mouse_move', coordinate: [123, 234] });
      expect(await sandbox().computer.cursorPosition()).toEqual({ x: 123, y: 234 });
      // A screenshot after each action, as Anthropic's reference implementation answers.
      expect(after).toHaveLength(1);
      expect(after[0]!.type).toBe('image');
      expect(await anthropic.run({ action: 'cursor_position' })).toEqual([{ type: 'text', text: 'X=123,Y=234' }]);

      await anthropic.run({ action: 'left_click', coordinate: [inside.x, inside.y] });
      expect(await sandbox().computer.cursorPosition()).toEqual(inside);
      await anthropic.run({ action: 'left_click_drag', start_coordinate: [inside.x, inside.y], coordinate: [inside.x + 40, inside.y + 10] });
      expect(await sandbox().computer.cursorPosition()).toEqual({ x: inside.x + 40, y: inside.y + 10 });
      const textOnly = await anthropicComputerTool(sandbox(), { screenshotAfterAction: false });
      expect(await textOnly.run({ action: 'scroll', coordinate: [inside.x, inside.y], scroll_direction: 'up', scroll_amount: 1 })).toEqual([{ type: 'text', text: 'scroll: done' }]);

      await openai.run({ type: 'move', x: 321, y: 432 });
      expect(await sandbox().computer.cursorPosition()).toEqual({ x: 321, y: 432 });
      const clicked = await openai.run({ type: 'click', button: 'left', x: inside.x + 10, y: inside.y + 5 });
      expect(clicked.image_url).toMatch(/^data:image\/png;base64,/);
      expect(await sandbox().computer.cursorPosition()).toEqual({ x: inside.x + 10, y: inside.y + 5 });
      await openai.run({ type: 'scroll', x: inside.x, y: inside.y, scroll_x: 0, scroll_y: -100 });
      expect(await sandbox().computer.cursorPosition()).toEqual(inside);
    });

    it('types and presses keys and combinations: commands typed into the xterm run', async () => {
      await openai.run({ type: 'click', button: 'left', x: inside.x, y: inside.y });
      await until('focus on the adapters xterm', async () => (await exec('xdotool getwindowfocus getwindowname')).stdout.trim() === 'adapters', 10_000);
      // ctrl+u (the terminal's line kill) first, in case the drag above left anything on the line.
      await openai.run({ type: 'keypress', keys: ['CTRL', 'U'] });
      await openai.run({ type: 'type', text: 'echo openai > /tmp/adapters-openai' });
      await openai.run({ type: 'keypress', keys: ['ENTER'] });
      expect(await fileContent('/tmp/adapters-openai')).toBe('openai\n');

      await anthropic.run({ action: 'key', text: 'ctrl+u' });
      await anthropic.run({ action: 'type', text: 'echo anthropic > /tmp/adapters-anthropic' });
      await anthropic.run({ action: 'key', text: 'Return' });
      expect(await fileContent('/tmp/adapters-anthropic')).toBe('anthropic\n');
    });

    it('refuses bad input with invalid_argument naming the field, before anything runs', async () => {
      const refused = async (promise: Promise<unknown>) => {
        const error = await promise.then(
          () => {
            throw new Error('expected a refusal');
          },
          (e: unknown) => e,
        );
        expect(error).toBeInstanceOf(MicrovmError);
        expect((error as MicrovmError).code).toBe('invalid_argument');
        return (error as MicrovmError).message;
      };
      expect(await refused(anthropic.run({ action: 'left_click', coordinate: [5000, 1] }))).toMatch(/^coordinate: \[5000, 1\] is off the screen/);
      expect(await refused(anthropic.run({ action: 'mouse_move' }))).toMatch(/^coordinate: missing/);
      expect(await refused(anthropic.run({ action: 'fly' }))).toMatch(/^action: "fly" is not an action/);
      expect(await refused(openai.run({ type: 'click', button: 'left', x: 1 }))).toMatch(/^y: missing/);
      expect(await refused(openai.run({ type: 'bogus' }))).toMatch(/^type: "bogus" is not a computer action/);
      // A key name only xdotool can judge: the daemon's refusal comes through.
      expect(await refused(anthropic.run({ action: 'key', text: 'ctrl+nosuchkey' }))).toMatch(/nosuchkey/);
    });
  });
}

function imageData(block: AnthropicToolResultBlock): string {
  if (block.type !== 'image') throw new Error(`expected an image block, got ${block.type}`);
  return block.source.data;
}

async function until<T>(what: string, probe: () => Promise<T | null | undefined | false>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== null && value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

import type { WebSocket } from 'ws';
import type { ClickButton, ComputerAction, ComputerPoint, ComputerResult, ScrollDirection } from '../shared/api/computer-schemas.js';
import type { DisplayLink, DisplaySession } from '../shared/api/display-schemas.js';
import type { MicrovmClient } from './microvm-client.js';
import { MicrovmError } from './microvm-error.js';

export interface Screenshot {
  png: Buffer;
  width: number;
  height: number;
}

export interface ClickOptions {
  button?: ClickButton;
  /** 2 for a double click, 3 for a triple click. */
  count?: number;
}

/**
 * Computer use on a sandbox with a display (docs/computer-use.md): screenshots, the
 * pointer, clicks, drags, scrolling, typing and keys, all in screen pixels. `act` takes
 * any ComputerAction (the vocabulary of Anthropic's and OpenAI's computer-use tools); the
 * other methods are shorthands for it. A sandbox without a display fails with `no_display`.
 */
export class SandboxComputer {
  constructor(
    private readonly client: MicrovmClient,
    private readonly sandboxId: () => string,
  ) {}

  /** Performs one action and returns the daemon's result (a screenshot's PNG is base64 in `image`). */
  act(action: ComputerAction): Promise<ComputerResult> {
    return this.client.request<ComputerResult>('POST', this.route('/computer'), { json: action });
  }

  /** The screen as PNG bytes. */
  async screenshot(): Promise<Screenshot> {
    const response = await this.client.stream('GET', this.route('/computer/screenshot'));
    const chunks: Buffer[] = [];
    for await (const chunk of response as AsyncIterable<Buffer>) chunks.push(chunk);
    return { png: Buffer.concat(chunks), width: Number(response.headers['x-screen-width']), height: Number(response.headers['x-screen-height']) };
  }

  async screenSize(): Promise<{ width: number; height: number }> {
    const { width, height } = await this.act({ action: 'screen_size' });
    return { width: width!, height: height! };
  }

  async cursorPosition(): Promise<{ x: number; y: number }> {
    const { x, y } = await this.act({ action: 'cursor_position' });
    return { x: x!, y: y! };
  }

  async move(x: number, y: number): Promise<void> {
    await this.act({ action: 'mouse_move', x, y });
  }

  /** A click at x,y, or where the pointer is when both are omitted. */
  async click(x?: number, y?: number, options: ClickOptions = {}): Promise<void> {
    await this.act({ action: 'click', ...at(x, y), ...(options.button ? { button: options.button } : {}), ...(options.count ? { count: options.count } : {}) });
  }

  async doubleClick(x?: number, y?: number): Promise<void> {
    await this.act({ action: 'double_click', ...at(x, y) });
  }

  /** Drags with the left button from the first point through the others to the last. */
  async drag(...path: ComputerPoint[]): Promise<void> {
    await this.act({ action: 'drag', path });
  }

  /** Turns the wheel `amount` clicks (3 by default), at x,y or where the pointer is. */
  async scroll(direction: ScrollDirection, amount?: number, x?: number, y?: number): Promise<void> {
    await this.act({ action: 'scroll', direction, ...(amount === undefined ? {} : { amount }), ...at(x, y) });
  }

  /** Types text into the focused window ("\n" presses Return). */
  async type(text: string, options: { delayMs?: number } = {}): Promise<void> {
    await this.act({ action: 'type', text, ...(options.delayMs === undefined ? {} : { delayMs: options.delayMs }) });
  }

  /** Presses keys or combinations in order, xdotool names: key('ctrl+a', 'Delete'), key('ctrl+alt+Delete'). */
  async key(...keys: string[]): Promise<void> {
    await this.act({ action: 'key', keys });
  }

  /**
   * A token for the display's VNC WebSocket, valid for one connection within a minute;
   * `openVnc()` uses one at once.
   */
  display(): Promise<DisplaySession> {
    return this.client.request<DisplaySession>('POST', this.route('/display'));
  }

  /**
   * A link that opens this sandbox's Display tab in a browser (browser mode): single use,
   * valid for five minutes. Needs a daemon with a TCP listener (`microvm serve --port N`).
   */
  displayLink(): Promise<DisplayLink> {
    return this.client.request<DisplayLink>('POST', this.route('/display/link'));
  }

  /** The display's VNC (RFB) stream as an open `ws` WebSocket (binary messages both ways). */
  async openVnc(): Promise<WebSocket> {
    return this.client.websocket((await this.display()).path);
  }

  private route(suffix: string): string {
    return `/sandboxes/${encodeURIComponent(this.sandboxId())}${suffix}`;
  }
}

function at(x: number | undefined, y: number | undefined): { x?: number; y?: number } {
  if (x === undefined && y === undefined) return {};
  if (x === undefined || y === undefined) throw new MicrovmError('invalid_argument', 'give both x and y, or neither (to act where the pointer is)');
  return { x, y };
}

import { act, cleanup, waitFor, within } from '@testing-library/react';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { FakeAppApi, makeSandbox } from './fake-app-api';
import { openSandbox, renderApp } from './render-app';

/**
 * The real xterm.js runs here. jsdom has no layout, so the test gives it one: glyphs
 * 8×16 px (xterm measures 32 "W"s) and a terminal pane whose size the test sets, the way
 * a window resize would. FitAddon then computes columns and rows as in a browser.
 */
const pane = { width: 800, height: 400 };
const CHAR = { width: 8, height: 16 };
const layoutStyle = document.createElement('style');

function applyPaneSize() {
  layoutStyle.textContent = `.terminal-host { width: ${pane.width}px; height: ${pane.height}px; }`;
}

beforeEach(() => {
  pane.width = 800;
  pane.height = 400;
  applyPaneSize();
  document.head.append(layoutStyle);
  Object.defineProperty(HTMLElement.prototype, 'offsetWidth', {
    configurable: true,
    get(this: HTMLElement) {
      return this.classList.contains('xterm-char-measure-element') ? CHAR.width * 32 : pane.width;
    },
  });
  Object.defineProperty(HTMLElement.prototype, 'offsetHeight', {
    configurable: true,
    get(this: HTMLElement) {
      return this.classList.contains('xterm-char-measure-element') ? CHAR.height : pane.height;
    },
  });
});

afterEach(() => {
  cleanup();
  layoutStyle.remove();
  delete (HTMLElement.prototype as { offsetWidth?: number }).offsetWidth;
  delete (HTMLElement.prototype as { offsetHeight?: number }).offsetHeight;
});

function screenText(panel: HTMLElement): string {
  return panel.querySelector('.xterm-rows')?.textContent ?? '';
}

describe('terminal tab', () => {
  test('opens a PTY fitted to the pane, shows its output and sends typing', async () => {
    const api = new FakeAppApi([makeSandbox('alpha')]);
    const { user } = renderApp(api);
    const detail = await openSandbox(user, 'alpha');
    await waitFor(() => expect(api.terminals).toHaveLength(1));
    const terminal = api.terminals[0]!;
    expect(terminal.sandboxId).toBe('id-alpha');
    // 800 px wide less xterm's 14 px scrollbar gutter, 400 px high, 8×16 px cells.
    expect(terminal.options).toEqual({ cols: 98, rows: 25 });

    const panel = within(detail).getByRole('tabpanel', { name: 'Terminal 1' });
    act(() => terminal.output('root@alpha:~# '));
    await waitFor(() => expect(screenText(panel)).toContain('root@alpha:~#'));

    await user.click(panel.querySelector('.xterm-helper-textarea') as HTMLElement);
    await user.keyboard('ls');
    await waitFor(() => expect(terminal.written.join('')).toBe('ls'));
  });

  test('refits and resizes the PTY when the pane has changed size', async () => {
    const api = new FakeAppApi([makeSandbox('alpha')]);
    const { user } = renderApp(api);
    const detail = await openSandbox(user, 'alpha');
    await waitFor(() => expect(api.terminals).toHaveLength(1));
    await user.click(within(detail).getByRole('tab', { name: 'Files' }));
    pane.width = 414;
    pane.height = 160;
    applyPaneSize();
    await user.click(within(detail).getByRole('tab', { name: 'Terminal' }));
    await waitFor(() => expect(api.terminals[0]?.resizes).toEqual([[50, 10]]));
    // Switching tabs kept the session: no second terminal was opened.
    expect(api.terminals).toHaveLength(1);
    expect(api.terminals[0]?.closed).toBe(false);
  });

  test('New terminal adds Terminal 2; closing one ends its session; the end shows in the text', async () => {
    const api = new FakeAppApi([makeSandbox('alpha')]);
    const { user } = renderApp(api);
    const detail = await openSandbox(user, 'alpha');
    await waitFor(() => expect(api.terminals).toHaveLength(1));

    await user.click(within(detail).getByRole('button', { name: 'New terminal' }));
    await waitFor(() => expect(api.terminals).toHaveLength(2));
    const terminals = within(detail).getByRole('tablist', { name: 'Terminals' });
    expect(within(terminals).getAllByRole('tab').map((tab) => tab.textContent)).toEqual(['Terminal 1', 'Terminal 2']);
    expect(within(terminals).getByRole('tab', { name: 'Terminal 2' }).getAttribute('aria-selected')).toBe('true');

    const second = api.terminals[1]!;
    act(() => second.emit({ type: 'exit', exitCode: 3, signal: null }));
    const panel2 = within(detail).getByRole('tabpanel', { name: 'Terminal 2' });
    await waitFor(() => expect(screenText(panel2)).toContain('[Process exited with code 3]'));

    await user.click(within(terminals).getByRole('tab', { name: 'Terminal 1' }));
    const first = api.terminals[0]!;
    act(() => first.emit({ type: 'error', code: 'not_running', message: 'sandbox "alpha" is not running' }));
    const panel1 = within(detail).getByRole('tabpanel', { name: 'Terminal 1' });
    await waitFor(() => expect(screenText(panel1)).toContain('[Error: sandbox "alpha" is not running]'));

    await user.click(within(detail).getByRole('button', { name: 'Close Terminal 1' }));
    expect(first.closed).toBe(true);
    expect(second.closed).toBe(false);
    expect(within(terminals).getAllByRole('tab').map((tab) => tab.textContent)).toEqual(['Terminal 2']);
    expect(within(detail).queryByRole('button', { name: 'Close Terminal 1' })).toBeNull();

    await user.click(within(detail).getByRole('button', { name: 'New terminal' }));
    expect(within(terminals).getAllByRole('tab').map((tab) => tab.textContent)).toEqual(['Terminal 2', 'Terminal 3']);
  });

  test('a stopped sandbox opens no terminal until it runs', async () => {
    const api = new FakeAppApi([makeSandbox('alpha', 'stopped')]);
    const { user } = renderApp(api);
    const detail = await openSandbox(user, 'alpha');
    expect(await within(detail).findByText('A terminal needs a running sandbox; alpha is stopped.')).toBeTruthy();
    expect((within(detail).getByRole('button', { name: 'New terminal' }) as HTMLButtonElement).disabled).toBe(true);
    expect(api.terminals).toHaveLength(0);

    act(() => api.emit({ type: 'state', id: 'id-alpha', name: 'alpha', state: 'running', reason: null, at: Date.now() }));
    await waitFor(() => expect(api.terminals).toHaveLength(1));
  });

  test('leaving the sandbox closes its terminals', async () => {
    const api = new FakeAppApi([makeSandbox('alpha'), makeSandbox('beta')]);
    const { user } = renderApp(api);
    await openSandbox(user, 'alpha');
    await waitFor(() => expect(api.terminals).toHaveLength(1));
    await openSandbox(user, 'beta');
    await waitFor(() => expect(api.terminals).toHaveLength(2));
    expect(api.terminals[0]?.closed).toBe(true);
    expect(api.terminals[1]?.sandboxId).toBe('id-beta');
  });
});

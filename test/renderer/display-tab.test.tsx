import { act, cleanup, waitFor, within } from '@testing-library/react';
import { afterEach, beforeEach, describe, expect, test, vi } from 'vitest';
import type { DisplayChannel } from '../../src/renderer/src/display/display-channel';
import { FakeAppApi, makeSandbox } from './fake-app-api';
import { openSandbox, renderApp } from './render-app';

/** A stand-in for noVNC's RFB: records what the tab does with it and lets a test play the server. */
class FakeRfb extends EventTarget {
  static instances: FakeRfb[] = [];
  scaleViewport = false;
  resizeSession = true;
  background = '';
  readonly keys: Array<[number, string | null, boolean | undefined]> = [];
  readonly credentials: unknown[] = [];
  ctrlAltDel = 0;
  disconnected = false;

  received: number[] = [];
  opened = false;

  constructor(
    readonly target: HTMLElement,
    readonly channel: DisplayChannel,
    readonly options: unknown,
  ) {
    super();
    FakeRfb.instances.push(this);
    target.appendChild(document.createElement('canvas'));
    // As noVNC's Websock.attach does.
    channel.onopen = () => (this.opened = true);
    channel.onmessage = (event) => this.received.push(...new Uint8Array(event.data));
  }
  emit(type: string, detail: unknown = {}) {
    act(() => {
      this.dispatchEvent(new CustomEvent(type, { detail }));
    });
  }
  disconnect() {
    this.disconnected = true;
  }
  sendCredentials(credentials: unknown) {
    this.credentials.push(credentials);
  }
  sendCtrlAltDel() {
    this.ctrlAltDel++;
  }
  sendKey(keysym: number, code: string | null, down?: boolean) {
    this.keys.push([keysym, code, down]);
  }
  focus() {}
}

vi.mock('@novnc/novnc', () => ({ default: FakeRfb }));

afterEach(cleanup);
beforeEach(() => {
  FakeRfb.instances.length = 0;
});

const SIZE = { width: 1280, height: 800 };

async function openDisplay(api: FakeAppApi) {
  const { user } = renderApp(api);
  const detail = await openSandbox(user, 'desk');
  await user.click(within(detail).getByRole('tab', { name: 'Display' }));
  return { user, panel: within(detail).getByRole('tabpanel', { name: 'Display' }) };
}

describe('the Display tab', () => {
  test('connects noVNC to the display URL, scaled to fit, and says so', async () => {
    const api = new FakeAppApi([makeSandbox('desk')]);
    api.displays.set('id-desk', { available: true, size: SIZE });
    const { user, panel } = await openDisplay(api);
    await waitFor(() => expect(FakeRfb.instances).toHaveLength(1));
    const rfb = FakeRfb.instances[0]!;
    // noVNC gets the contract's display connection as its channel: bytes go both ways through it.
    const connection = api.displayConnections[0]!;
    expect(connection.sandboxId).toBe('id-desk');
    expect(rfb.channel.readyState).toBe('connecting');
    connection.emit({ type: 'open' });
    connection.emit({ type: 'data', data: new TextEncoder().encode('RFB 003.008\n') });
    await waitFor(() => expect(rfb.opened).toBe(true));
    expect(rfb.channel.readyState).toBe('open');
    expect(new TextDecoder().decode(new Uint8Array(rfb.received))).toBe('RFB 003.008\n');
    rfb.channel.send(new TextEncoder().encode('RFB 003.008\n'));
    expect(connection.sent.map((bytes) => new TextDecoder().decode(bytes))).toEqual(['RFB 003.008\n']);
    expect(rfb.scaleViewport).toBe(true);
    expect(rfb.resizeSession).toBe(false);
    expect(within(panel).getByTestId('vnc-screen').querySelector('canvas')).toBeTruthy();
    const status = within(panel).getByRole('status');
    expect(status.textContent).toBe('Connecting to the display…');
    rfb.emit('connect');
    rfb.emit('desktopname', { name: 'desk:0' });
    expect(status.textContent).toBe('Connected to desk:0 · 1280×800');

    await user.click(within(panel).getByRole('checkbox', { name: 'Scale to fit' }));
    expect(rfb.scaleViewport).toBe(false);
  });

  test('sends Ctrl+Alt+Del and key combinations from the menu', async () => {
    const api = new FakeAppApi([makeSandbox('desk')]);
    api.displays.set('id-desk', { available: true, size: SIZE });
    const { user, panel } = await openDisplay(api);
    await waitFor(() => expect(FakeRfb.instances).toHaveLength(1));
    const rfb = FakeRfb.instances[0]!;
    const button = within(panel).getByRole('button', { name: 'Send Ctrl+Alt+Del' }) as HTMLButtonElement;
    expect(button.disabled).toBe(true);
    rfb.emit('connect');
    await user.click(button);
    expect(rfb.ctrlAltDel).toBe(1);
    await user.selectOptions(within(panel).getByRole('combobox', { name: 'Send keys' }), 'Alt+F4');
    // Pressed in order, released in reverse.
    expect(rfb.keys).toEqual([
      [0xffe9, 'AltLeft', true],
      [0xffc1, 'F4', true],
      [0xffc1, 'F4', false],
      [0xffe9, 'AltLeft', false],
    ]);
  });

  test('asks for a VNC password in the page, never with window.prompt', async () => {
    const prompt = vi.spyOn(window, 'prompt');
    const api = new FakeAppApi([makeSandbox('desk')]);
    api.displays.set('id-desk', { available: true, size: SIZE });
    const { user, panel } = await openDisplay(api);
    await waitFor(() => expect(FakeRfb.instances).toHaveLength(1));
    const rfb = FakeRfb.instances[0]!;
    rfb.emit('credentialsrequired', { types: ['password'] });
    const form = within(panel).getByRole('form', { name: 'VNC password' });
    await user.type(within(form).getByLabelText(/password/), 's3cret');
    await user.click(within(form).getByRole('button', { name: 'Connect' }));
    expect(rfb.credentials).toEqual([{ password: 's3cret' }]);
    expect(within(panel).queryByRole('form', { name: 'VNC password' })).toBeNull();
    rfb.emit('credentialsrequired', { types: ['password'] });
    expect(within(panel).getByText(/That password was not accepted/)).toBeTruthy();
    expect(prompt).not.toHaveBeenCalled();
  });

  test('after a drop, Reconnect opens a new connection', async () => {
    const api = new FakeAppApi([makeSandbox('desk')]);
    api.displays.set('id-desk', { available: true, size: SIZE });
    const { user, panel } = await openDisplay(api);
    await waitFor(() => expect(FakeRfb.instances).toHaveLength(1));
    FakeRfb.instances[0]!.emit('disconnect', { clean: false });
    expect(within(panel).getByRole('status').textContent).toBe('The connection to the display was lost or refused.');
    await user.click(within(panel).getByRole('button', { name: 'Reconnect' }));
    await waitFor(() => expect(FakeRfb.instances).toHaveLength(2));
    expect(api.displayConnections).toHaveLength(2);
    expect(api.callsTo('openDisplay')).toEqual([['id-desk'], ['id-desk']]);
  });

  test('leaving the tab disconnects', async () => {
    const api = new FakeAppApi([makeSandbox('desk')]);
    api.displays.set('id-desk', { available: true, size: SIZE });
    const { user } = await openDisplay(api);
    await waitFor(() => expect(FakeRfb.instances).toHaveLength(1));
    const detail = await openSandbox(user, 'desk');
    await user.click(within(detail).getByRole('tab', { name: 'Files' }));
    expect(FakeRfb.instances[0]!.disconnected).toBe(true);
  });

  test('a sandbox that is not running says so instead of connecting', async () => {
    const api = new FakeAppApi([makeSandbox('desk', 'stopped')]);
    api.displays.set('id-desk', { available: false, reason: 'sandbox "desk" is stopped' });
    const { panel } = await openDisplay(api);
    expect(await within(panel).findByText('sandbox "desk" is stopped')).toBeTruthy();
    expect(api.displayConnections).toHaveLength(0);
  });
});

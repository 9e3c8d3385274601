import { cleanup, waitFor, within } from '@testing-library/react';
import { afterEach, describe, expect, test } from 'vitest';
import { portFieldProblem, portFieldValue } from '../../src/renderer/src/ports/port-fields';
import { FakeAppApi, makeSandbox } from './fake-app-api';
import { openSandbox, renderApp } from './render-app';

afterEach(cleanup);

async function openPorts(api: FakeAppApi) {
  const view = renderApp(api);
  const detail = await openSandbox(view.user, 'alpha');
  await view.user.click(within(detail).getByRole('tab', { name: 'Ports' }));
  const panel = within(detail).getByRole('tabpanel', { name: 'Ports' });
  return { ...view, panel };
}

const rows = (panel: HTMLElement) =>
  within(within(panel).getByRole('table', { name: 'Port forwards' }))
    .getAllByRole('row')
    .slice(1)
    .map((row) => within(row).getAllByRole('cell').map((cell) => cell.textContent));

describe('ports tab', () => {
  test('lists the forwards by host port, with a link to each', async () => {
    const api = new FakeAppApi([makeSandbox('alpha')]);
    await api.addPort('id-alpha', { guestPort: 8000, hostPort: 18000 });
    await api.addPort('id-alpha', { guestPort: 5432, hostPort: 15432, address: '::1' });
    const { panel } = await openPorts(api);
    // By host port, as the daemon orders them.
    await waitFor(() => expect(rows(panel)).toEqual([['[::1]:15432', '5432', 'Remove'], ['127.0.0.1:18000', '8000', 'Remove']]));
    const link = within(panel).getByRole('link', { name: '127.0.0.1:18000' });
    expect(link.getAttribute('href')).toBe('http://127.0.0.1:18000');
    expect(link.getAttribute('target')).toBe('_blank');
    expect(api.callsTo('listPorts')).toEqual([['id-alpha']]);
  });

  test('says when there are none', async () => {
    const { panel } = await openPorts(new FakeAppApi([makeSandbox('alpha')]));
    expect(await within(panel).findByText(/No port forwards/)).toBeTruthy();
    expect(within(panel).queryByRole('table')).toBeNull();
  });

  test('adds a forward from a guest port, with or without a host port, and clears the form', async () => {
    const api = new FakeAppApi([makeSandbox('alpha')]);
    const { panel, user } = await openPorts(api);
    await within(panel).findByText(/No port forwards/);
    await user.type(within(panel).getByRole('textbox', { name: 'Guest port' }), '8000');
    await user.click(within(panel).getByRole('button', { name: 'Add forward' }));
    expect(await within(panel).findByText('Forwarding 127.0.0.1:40000 to guest port 8000.')).toBeTruthy();
    expect(api.callsTo('addPort')).toEqual([['id-alpha', { guestPort: 8000 }]]);
    expect((within(panel).getByRole('textbox', { name: 'Guest port' }) as HTMLInputElement).value).toBe('');

    await user.type(within(panel).getByRole('textbox', { name: 'Guest port' }), '3000');
    await user.type(within(panel).getByRole('textbox', { name: 'Host port' }), '13000');
    await user.click(within(panel).getByRole('button', { name: 'Add forward' }));
    await waitFor(() => expect(rows(panel)).toEqual([['127.0.0.1:13000', '3000', 'Remove'], ['127.0.0.1:40000', '8000', 'Remove']]));
    expect(api.callsTo('addPort')[1]).toEqual(['id-alpha', { guestPort: 3000, hostPort: 13000 }]);
  });

  test('refuses a malformed port before asking, and shows what the daemon refused', async () => {
    const api = new FakeAppApi([makeSandbox('alpha')]);
    const { panel, user } = await openPorts(api);
    await within(panel).findByText(/No port forwards/);
    await user.click(within(panel).getByRole('button', { name: 'Add forward' }));
    expect(within(panel).getByText('Enter the port inside the sandbox.')).toBeTruthy();
    expect(within(panel).getByRole('textbox', { name: 'Guest port' }).getAttribute('aria-invalid')).toBe('true');
    await user.type(within(panel).getByRole('textbox', { name: 'Guest port' }), '80');
    await user.type(within(panel).getByRole('textbox', { name: 'Host port' }), '70000');
    await user.click(within(panel).getByRole('button', { name: 'Add forward' }));
    expect(within(panel).getByText('A port is a whole number from 1 to 65535.')).toBeTruthy();
    expect(api.callsTo('addPort')).toEqual([]);

    api.failNext('addPort', 'port_in_use', 'hostPort: 127.0.0.1:8080 is already in use on this host; pick another host port, or omit it for a free one');
    await user.clear(within(panel).getByRole('textbox', { name: 'Host port' }));
    await user.type(within(panel).getByRole('textbox', { name: 'Host port' }), '8080');
    await user.click(within(panel).getByRole('button', { name: 'Add forward' }));
    expect((await within(panel).findByRole('alert')).textContent).toMatch(/127\.0\.0\.1:8080 is already in use/);
    // What was typed stays, to be corrected.
    expect((within(panel).getByRole('textbox', { name: 'Host port' }) as HTMLInputElement).value).toBe('8080');
  });

  test('removes a forward, and shows a failure to', async () => {
    const api = new FakeAppApi([makeSandbox('alpha')]);
    await api.addPort('id-alpha', { guestPort: 8000, hostPort: 18000 });
    await api.addPort('id-alpha', { guestPort: 9000, hostPort: 19000 });
    const { panel, user } = await openPorts(api);
    await user.click(await within(panel).findByRole('button', { name: 'Remove the forward on host port 18000' }));
    await waitFor(() => expect(rows(panel)).toEqual([['127.0.0.1:19000', '9000', 'Remove']]));
    expect(within(panel).getByRole('status').textContent).toBe('Removed the forward on 127.0.0.1:18000.');
    expect(api.callsTo('removePort')).toEqual([['id-alpha', 18000]]);

    api.failNext('removePort', 'not_found', 'sandbox "alpha" has no port forward on host port 19000');
    await user.click(within(panel).getByRole('button', { name: 'Remove the forward on host port 19000' }));
    expect((await within(panel).findByRole('alert')).textContent).toBe('sandbox "alpha" has no port forward on host port 19000');
  });

  test('says connections are closed while the sandbox is not running', async () => {
    const { panel } = await openPorts(new FakeAppApi([makeSandbox('alpha', 'stopped')]));
    expect(await within(panel).findByText(/While alpha is stopped, connections to them are closed at once/)).toBeTruthy();
  });

  test('shows why the list cannot be read', async () => {
    const api = new FakeAppApi([makeSandbox('alpha')]);
    api.failNext('listPorts', 'daemon_unreachable', 'no daemon answers');
    const { panel } = await openPorts(api);
    expect((await within(panel).findByRole('alert')).textContent).toBe('Cannot read the port forwards: no daemon answers');
  });
});

describe('port fields', () => {
  test('accept 1-65535, and nothing for an optional host port', () => {
    expect(portFieldProblem(' 8000 ', { optional: false })).toBeNull();
    expect(portFieldProblem('', { optional: true })).toBeNull();
    expect(portFieldProblem('', { optional: false })).toBe('Enter the port inside the sandbox.');
    for (const text of ['0', '65536', '-1', '80.5', '8o', '1e3']) expect(portFieldProblem(text, { optional: true }), text).toBe('A port is a whole number from 1 to 65535.');
    expect(portFieldValue(' 443 ')).toBe(443);
    expect(portFieldValue('  ')).toBeUndefined();
  });
});

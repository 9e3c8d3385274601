import { cleanup, screen, waitFor, within } from '@testing-library/react';
import { afterEach, describe, expect, test } from 'vitest';
import { FakeAppApi, makeSandbox } from './fake-app-api';
import { renderApp, rowOf } from './render-app';

afterEach(cleanup);

const fifty = () => Array.from({ length: 50 }, (_, i) => makeSandbox(`box-${String(i).padStart(2, '0')}`, 'running', { template: i % 5 === 0 ? 'python' : 'minimal' }));

describe('sandbox list', () => {
  test('shows one row per sandbox, sorted by name, and filters by name or template', async () => {
    const { user } = renderApp(new FakeAppApi(fifty()));
    const table = await screen.findByRole('table', { name: 'Sandboxes' });
    await waitFor(() => expect(within(table).getAllByRole('row')).toHaveLength(51));
    const names = within(table)
      .getAllByRole('row')
      .slice(1)
      .map((row) => within(row).getAllByRole('cell')[0]?.textContent);
    expect(names.slice(0, 3)).toEqual(['box-00', 'box-01', 'box-02']);
    expect(within(table).getAllByRole('columnheader').map((header) => header.textContent)).toEqual(['Name', 'State', 'Template', 'vCPUs', 'Memory', 'CPU', 'RAM', 'Actions']);
    expect(within(rowOf('box-07')).getAllByRole('cell').map((cell) => cell.textContent)).toEqual(['box-07', 'running', 'minimal', '1', '256 MiB', '—', '—', 'StopPauseDelete']);

    await user.type(screen.getByRole('textbox', { name: 'Filter sandboxes' }), 'box-1');
    expect(within(table).getAllByRole('row')).toHaveLength(11);
    expect(within(table).queryByRole('button', { name: 'box-21' })).toBeNull();

    await user.clear(screen.getByRole('textbox', { name: 'Filter sandboxes' }));
    await user.type(screen.getByRole('textbox', { name: 'Filter sandboxes' }), 'PYTHON');
    expect(within(table).getAllByRole('row')).toHaveLength(11);
    expect(within(table).getByRole('button', { name: 'box-45' })).toBeTruthy();
  });

  test('a state event changes the row and the quick actions it offers', async () => {
    const api = new FakeAppApi([makeSandbox('alpha'), makeSandbox('beta')]);
    renderApp(api);
    await screen.findByRole('button', { name: 'alpha' });
    expect(screen.getByRole('button', { name: 'Pause alpha' })).toBeTruthy();

    api.emit({ type: 'state', id: 'id-alpha', name: 'alpha', state: 'paused', reason: 'paused by user', at: Date.now() });
    await waitFor(() => expect(within(rowOf('alpha')).getAllByRole('cell')[1]?.textContent).toBe('paused'));
    expect(screen.getByRole('button', { name: 'Resume alpha' })).toBeTruthy();
    expect(screen.getByRole('button', { name: 'Stop alpha' })).toBeTruthy();
    expect(screen.queryByRole('button', { name: 'Pause alpha' })).toBeNull();
    expect(screen.queryByRole('button', { name: 'Start alpha' })).toBeNull();
    expect(within(rowOf('beta')).getAllByRole('cell')[1]?.textContent).toBe('running');

    api.emit({ type: 'state', id: 'id-alpha', name: 'alpha', state: 'stopped', reason: null, at: Date.now() });
    expect(await screen.findByRole('button', { name: 'Start alpha' })).toBeTruthy();
    expect(screen.queryByRole('button', { name: 'Resume alpha' })).toBeNull();
  });

  test('a sandbox first seen in an event appears, and a destroyed one disappears', async () => {
    const api = new FakeAppApi([makeSandbox('alpha')]);
    renderApp(api);
    await screen.findByRole('button', { name: 'alpha' });
    const listings = api.callsTo('listSandboxes').length;

    // Created by another client: the event comes first, the listing fills in the rest.
    api.sandboxes.set('id-gamma', makeSandbox('gamma', 'creating', { vcpus: 2 }));
    api.emit({ type: 'state', id: 'id-gamma', name: 'gamma', state: 'creating', reason: null, at: Date.now() });
    await screen.findByRole('button', { name: 'gamma' });
    expect(within(rowOf('gamma')).getAllByRole('cell')[1]?.textContent).toBe('creating');
    await waitFor(() => expect(within(rowOf('gamma')).getAllByRole('cell')[3]?.textContent).toBe('2'));
    expect(api.callsTo('listSandboxes').length).toBeGreaterThan(listings);

    api.emit({ type: 'state', id: 'id-alpha', name: 'alpha', state: 'stopped', reason: 'destroyed', at: Date.now() });
    await waitFor(() => expect(screen.queryByRole('button', { name: 'alpha' })).toBeNull());
  });

  test('usage readings become CPU% and RAM; unknown figures show a dash', async () => {
    const api = new FakeAppApi([makeSandbox('alpha'), makeSandbox('beta', 'stopped')]);
    api.usageReadings = [
      { at: 10_000, sandboxes: [{ id: 'id-alpha', cpuSeconds: 4, rssBytes: 300 * 1024 * 1024 }, { id: 'id-beta', cpuSeconds: null, rssBytes: null }] },
      { at: 12_000, sandboxes: [{ id: 'id-alpha', cpuSeconds: 5, rssBytes: 310 * 1024 * 1024 }, { id: 'id-beta', cpuSeconds: null, rssBytes: null }] },
    ];
    renderApp(api, { usageIntervalMs: 30 });
    await screen.findByRole('button', { name: 'alpha' });
    // One CPU second over two wall-clock seconds.
    await waitFor(() => expect(within(rowOf('alpha')).getAllByRole('cell')[5]?.textContent).toBe('50%'));
    expect(within(rowOf('alpha')).getAllByRole('cell')[6]?.textContent).toBe('310 MiB');
    expect(within(rowOf('beta')).getAllByRole('cell')[5]?.textContent).toBe('—');
    expect(within(rowOf('beta')).getAllByRole('cell')[6]?.textContent).toBe('—');
  });

  test('quick actions call the api; a failure shows in Notifications', async () => {
    const api = new FakeAppApi([makeSandbox('alpha')]);
    const { user } = renderApp(api);
    await user.click(await screen.findByRole('button', { name: 'Pause alpha' }));
    expect(api.callsTo('sandboxAction')).toEqual([['id-alpha', 'pause']]);
    await screen.findByRole('button', { name: 'Resume alpha' });

    api.failNext('sandboxAction', 'wrong_state', 'cannot resume sandbox "alpha": it is stopping');
    await user.click(screen.getByRole('button', { name: 'Resume alpha' }));
    const notifications = screen.getByRole('region', { name: 'Notifications' });
    const alert = await within(notifications).findByRole('alert');
    expect(alert.textContent).toContain('Resume alpha: cannot resume sandbox "alpha": it is stopping');

    await user.click(within(alert).getByRole('button', { name: 'Dismiss' }));
    expect(within(notifications).queryByRole('alert')).toBeNull();
  });

  test('Delete asks first, then deletes; focus goes back when cancelled', async () => {
    const api = new FakeAppApi([makeSandbox('alpha'), makeSandbox('beta')]);
    const { user } = renderApp(api);
    const deleteButton = await screen.findByRole('button', { name: 'Delete alpha' });
    await user.click(deleteButton);
    const confirm = screen.getByRole('alertdialog', { name: 'Delete alpha?' });
    await user.click(within(confirm).getByRole('button', { name: 'Cancel' }));
    expect(screen.queryByRole('alertdialog')).toBeNull();
    expect(document.activeElement).toBe(deleteButton);
    expect(api.callsTo('deleteSandbox')).toEqual([]);

    await user.click(deleteButton);
    await user.click(within(screen.getByRole('alertdialog')).getByRole('button', { name: 'Delete' }));
    expect(api.callsTo('deleteSandbox')).toEqual([['id-alpha']]);
    await waitFor(() => expect(screen.queryByRole('button', { name: 'alpha' })).toBeNull());
    expect(screen.getByRole('button', { name: 'beta' })).toBeTruthy();
  });

  test('the header names the shell and reports a dropped event stream, then catches up', async () => {
    const api = new FakeAppApi([makeSandbox('alpha')]);
    renderApp(api);
    expect(await screen.findByText(/browser · v0\.1\.0/)).toBeTruthy();
    const status = screen.getAllByRole('status').find((element) => element.classList.contains('connection'));
    await waitFor(() => expect(status?.textContent).toBe('Connected'));

    api.setConnected(false);
    await waitFor(() => expect(status?.textContent).toBe('Disconnected'));
    // Changed while disconnected: the listing after the reconnect brings it in.
    api.sandboxes.set('id-alpha', makeSandbox('alpha', 'paused'));
    api.setConnected(true);
    await waitFor(() => expect(within(rowOf('alpha')).getAllByRole('cell')[1]?.textContent).toBe('paused'));
    expect(status?.textContent).toBe('Connected');
  });

  test('a listing failure is shown, not swallowed', async () => {
    const api = new FakeAppApi();
    api.failNext('listSandboxes', 'unavailable', 'the daemon is not answering');
    renderApp(api);
    expect((await screen.findByText(/Cannot list sandboxes/)).textContent).toContain('the daemon is not answering');
  });
});

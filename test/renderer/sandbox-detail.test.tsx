import { act, cleanup, screen, waitFor, within } from '@testing-library/react';
import { afterEach, describe, expect, test } from 'vitest';
import { FakeAppApi, makeSandbox } from './fake-app-api';
import { openSandbox, renderApp } from './render-app';

afterEach(cleanup);

describe('sandbox detail', () => {
  test('tabs move with the arrow keys, Home and End, and show their panel', async () => {
    const { user } = renderApp(new FakeAppApi([makeSandbox('alpha', 'stopped')]));
    const detail = await openSandbox(user, 'alpha');
    const tablist = within(detail).getByRole('tablist', { name: 'alpha views' });
    const tabs = within(tablist).getAllByRole('tab');
    expect(tabs.map((tab) => tab.textContent)).toEqual(['Terminal', 'Files', 'Snapshots', 'Console', 'Display', 'Ports']);
    const selectedTab = () => within(tablist).getAllByRole('tab').find((tab) => tab.getAttribute('aria-selected') === 'true')?.textContent;
    expect(selectedTab()).toBe('Terminal');
    // Only the selected tab is in the Tab order.
    expect(tabs.map((tab) => tab.tabIndex)).toEqual([0, -1, -1, -1, -1, -1]);

    tabs[0]?.focus();
    await user.keyboard('{ArrowRight}');
    expect(selectedTab()).toBe('Files');
    expect(document.activeElement?.textContent).toBe('Files');
    expect(within(detail).getByRole('tabpanel', { name: 'Files' })).toBeTruthy();
    await user.keyboard('{End}');
    expect(selectedTab()).toBe('Ports');
    await user.keyboard('{ArrowRight}');
    expect(selectedTab()).toBe('Terminal');
    await user.keyboard('{ArrowLeft}');
    expect(selectedTab()).toBe('Ports');
    await user.keyboard('{Home}');
    expect(selectedTab()).toBe('Terminal');
    expect(document.activeElement?.textContent).toBe('Terminal');
  });

  test('Display says there is none, and why', async () => {
    const api = new FakeAppApi([makeSandbox('alpha')]);
    const { user } = renderApp(api);
    const detail = await openSandbox(user, 'alpha');
    await user.click(within(detail).getByRole('tab', { name: 'Display' }));
    const panel = within(detail).getByRole('tabpanel', { name: 'Display' });
    expect(await within(panel).findByText('No display')).toBeTruthy();
    expect(within(panel).getByText('this template has no display')).toBeTruthy();
    expect(api.callsTo('display')).toEqual([['id-alpha']]);
  });

  test('Console appends the serial output as it comes and stops following when left', async () => {
    const api = new FakeAppApi([makeSandbox('alpha')]);
    const { user } = renderApp(api);
    const detail = await openSandbox(user, 'alpha');
    await user.click(within(detail).getByRole('tab', { name: 'Console' }));
    const log = within(detail).getByRole('log', { name: 'Serial console' });
    expect(log.tagName).toBe('PRE');
    const follower = api.consoles[0];
    expect(follower?.sandboxId).toBe('id-alpha');

    act(() => follower?.write('Linux version 6.1\n'));
    act(() => follower?.write('agent: ready\n'));
    expect(log.textContent).toBe('Linux version 6.1\nagent: ready\n');

    act(() => follower?.end({ code: 'not_running', message: 'sandbox "alpha" is not running' }));
    expect(within(detail).getByRole('alert').textContent).toContain('sandbox "alpha" is not running');

    await user.click(within(detail).getByRole('tab', { name: 'Files' }));
    expect(follower?.closed).toBe(true);
  });

  test('Delete sandbox asks in an alertdialog; Escape cancels, Delete deletes and closes the detail', async () => {
    const api = new FakeAppApi([makeSandbox('alpha'), makeSandbox('beta')]);
    const { user } = renderApp(api);
    const detail = await openSandbox(user, 'alpha');
    const deleteButton = within(detail).getByRole('button', { name: 'Delete sandbox' });
    await user.click(deleteButton);
    const confirm = screen.getByRole('alertdialog', { name: 'Delete alpha?' });
    expect(confirm.getAttribute('aria-describedby')).toBeTruthy();
    // Cancel is focused: Enter on a dangerous question is harmless.
    expect(document.activeElement).toBe(within(confirm).getByRole('button', { name: 'Cancel' }));
    await user.keyboard('{Escape}');
    expect(screen.queryByRole('alertdialog')).toBeNull();
    expect(document.activeElement).toBe(deleteButton);

    await user.click(deleteButton);
    await user.click(within(screen.getByRole('alertdialog')).getByRole('button', { name: 'Delete' }));
    expect(api.callsTo('deleteSandbox')).toEqual([['id-alpha']]);
    await waitFor(() => expect(screen.queryByRole('region', { name: 'Sandbox alpha' })).toBeNull());
  });

  test('a failed delete from the detail shows in Notifications and keeps the sandbox', async () => {
    const api = new FakeAppApi([makeSandbox('alpha')]);
    api.failNext('deleteSandbox', 'busy', 'sandbox "alpha" is being restored');
    const { user } = renderApp(api);
    const detail = await openSandbox(user, 'alpha');
    await user.click(within(detail).getByRole('button', { name: 'Delete sandbox' }));
    await user.click(within(screen.getByRole('alertdialog')).getByRole('button', { name: 'Delete' }));
    const notifications = screen.getByRole('region', { name: 'Notifications' });
    expect((await within(notifications).findByRole('alert')).textContent).toContain('Delete alpha: sandbox "alpha" is being restored');
    expect(screen.getByRole('region', { name: 'Sandbox alpha' })).toBeTruthy();
  });

  test('the header follows state events of the open sandbox', async () => {
    const api = new FakeAppApi([makeSandbox('alpha')]);
    const { user } = renderApp(api);
    const detail = await openSandbox(user, 'alpha');
    expect(within(detail).getByRole('heading', { name: 'alpha' })).toBeTruthy();
    act(() => api.emit({ type: 'state', id: 'id-alpha', name: 'alpha', state: 'crashed', reason: 'VMM exited with status 1', at: Date.now() }));
    expect(within(detail).getAllByText('crashed').length).toBeGreaterThan(0);
    expect(within(detail).getByText('VMM exited with status 1')).toBeTruthy();
  });
});

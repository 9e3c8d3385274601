import { act, cleanup, screen, waitFor, within } from '@testing-library/react';
import { afterEach, describe, expect, test } from 'vitest';
import { FakeAppApi, makeSandbox, makeSnapshot } from './fake-app-api';
import { openSandbox, renderApp } from './render-app';

afterEach(cleanup);

/** base ─┬─ configured ── tested (current)
 *        └─ experiment                      plus a fork's first snapshot whose parent is elsewhere. */
function apiWithSnapshots() {
  const api = new FakeAppApi([makeSandbox('alpha')]);
  api.setSnapshots(
    'id-alpha',
    [
      makeSnapshot('id-alpha', 'base', null),
      makeSnapshot('id-alpha', 'configured', 'snap-base', { description: 'packages installed' }),
      makeSnapshot('id-alpha', 'experiment', 'snap-base', { thumbnail: 'data:image/png;base64,iVBORw0KGgo=' }),
      makeSnapshot('id-alpha', 'tested', 'snap-configured'),
      makeSnapshot('id-alpha', 'adopted', 'snap-of-another-sandbox'),
    ],
    'snap-tested',
  );
  return api;
}

async function openSnapshots(api: FakeAppApi) {
  const view = renderApp(api);
  const detail = await openSandbox(view.user, 'alpha');
  await view.user.click(within(detail).getByRole('tab', { name: 'Snapshots' }));
  const tree = await within(detail).findByRole('tree', { name: 'Snapshots' });
  return { ...view, detail, tree };
}

const item = (tree: HTMLElement, name: string) => within(tree).getByRole('treeitem', { name: new RegExp(`^${name}\\b`) });

/** The names directly under a treeitem's group. */
function childNames(treeitem: HTMLElement): string[] {
  const group = [...treeitem.children].find((child) => child.getAttribute('role') === 'group');
  if (!group) return [];
  return [...group.children].map((child) => child.querySelector('.snapshot-name')?.textContent ?? '');
}

describe('snapshots tab', () => {
  test('nests snapshots by parent and marks the current one', async () => {
    const { tree } = await openSnapshots(apiWithSnapshots());
    const roots = [...tree.children].map((child) => child.querySelector('.snapshot-name')?.textContent);
    expect(roots).toEqual(['base', 'adopted']);
    expect(childNames(item(tree, 'base'))).toEqual(['configured', 'experiment']);
    expect(childNames(item(tree, 'configured'))).toEqual(['tested']);
    expect(item(tree, 'base').getAttribute('aria-expanded')).toBe('true');

    const current = item(tree, 'tested');
    expect(current.getAttribute('aria-current')).toBe('true');
    expect(within(current).getByText('current')).toBeTruthy();
    expect(within(tree).getAllByRole('treeitem').filter((element) => element.getAttribute('aria-current') === 'true')).toEqual([current]);
    expect(within(tree).getAllByText('current')).toHaveLength(1);

    expect(within(item(tree, 'experiment')).getByRole('img', { name: 'Screen of experiment' }).getAttribute('src')).toBe('data:image/png;base64,iVBORw0KGgo=');
    expect(within(item(tree, 'configured')).queryByRole('img', { name: /configured/ })).toBeNull();
  });

  test('arrow keys move between snapshots', async () => {
    const { user, tree } = await openSnapshots(apiWithSnapshots());
    // The current snapshot is where Tab lands in the tree.
    expect(item(tree, 'tested').tabIndex).toBe(0);
    item(tree, 'tested').focus();
    await user.keyboard('{ArrowDown}');
    expect(document.activeElement).toBe(item(tree, 'experiment'));
    await user.keyboard('{Home}');
    expect(document.activeElement).toBe(item(tree, 'base'));
    await user.keyboard('{End}');
    expect(document.activeElement).toBe(item(tree, 'adopted'));
  });

  test('takes a snapshot with the given name and shows the result in place', async () => {
    const api = apiWithSnapshots();
    const { user, detail, tree } = await openSnapshots(api);
    await user.type(within(detail).getByRole('textbox', { name: 'Snapshot name' }), 'before-upgrade');
    await user.click(within(detail).getByRole('button', { name: 'Take snapshot' }));
    expect(api.callsTo('takeSnapshot')).toEqual([['id-alpha', 'before-upgrade']]);
    await waitFor(() => expect(within(detail).getByText('Snapshot before-upgrade taken')).toBeTruthy());
    expect(within(detail).getByText('Snapshot before-upgrade taken').getAttribute('role')).toBe('status');
    // The new one is current, a child of the previous current.
    await waitFor(() => expect(item(tree, 'before-upgrade').getAttribute('aria-current')).toBe('true'));
    expect(childNames(item(tree, 'tested'))).toEqual(['before-upgrade']);
    expect((within(detail).getByRole('textbox', { name: 'Snapshot name' }) as HTMLInputElement).value).toBe('');
  });

  test('an unnamed snapshot lets the daemon name it', async () => {
    const api = apiWithSnapshots();
    const { user, detail } = await openSnapshots(api);
    await user.click(within(detail).getByRole('button', { name: 'Take snapshot' }));
    expect(api.callsTo('takeSnapshot')).toEqual([['id-alpha', undefined]]);
  });

  test('Restore asks for confirmation first', async () => {
    const api = apiWithSnapshots();
    const { user, detail, tree } = await openSnapshots(api);
    await user.click(within(tree).getByRole('button', { name: 'Restore base' }));
    const confirm = screen.getByRole('alertdialog', { name: 'Restore base?' });
    await user.click(within(confirm).getByRole('button', { name: 'Cancel' }));
    expect(api.callsTo('restoreSnapshot')).toEqual([]);

    await user.click(within(tree).getByRole('button', { name: 'Restore base' }));
    await user.click(within(screen.getByRole('alertdialog')).getByRole('button', { name: 'Restore' }));
    expect(api.callsTo('restoreSnapshot')).toEqual([['id-alpha', 'snap-base']]);
    expect(await within(detail).findByText('Restored snapshot base')).toBeTruthy();
    await waitFor(() => expect(item(tree, 'base').getAttribute('aria-current')).toBe('true'));
    expect(item(tree, 'tested').getAttribute('aria-current')).toBeNull();
  });

  test('Fork creates a sandbox and says which', async () => {
    const api = apiWithSnapshots();
    const { user, detail, tree } = await openSnapshots(api);
    await user.click(within(tree).getByRole('button', { name: 'Fork configured' }));
    expect(api.callsTo('forkSnapshot')).toEqual([['id-alpha', 'snap-configured', undefined]]);
    expect(await within(detail).findByText('Forked snapshot configured into sandbox fork-2')).toBeTruthy();
    // The new sandbox arrives in the list by its event.
    expect(await within(screen.getByRole('table', { name: 'Sandboxes' })).findByRole('button', { name: 'fork-2' })).toBeTruthy();
  });

  test('Delete asks, deletes and the tree drops it', async () => {
    const api = apiWithSnapshots();
    const { user, tree } = await openSnapshots(api);
    await user.click(within(tree).getByRole('button', { name: 'Delete experiment' }));
    await user.click(within(screen.getByRole('alertdialog', { name: 'Delete snapshot experiment?' })).getByRole('button', { name: 'Delete' }));
    expect(api.callsTo('deleteSnapshot')).toEqual([['id-alpha', 'snap-experiment']]);
    await waitFor(() => expect(within(tree).queryByRole('treeitem', { name: /^experiment/ })).toBeNull());
  });

  test('a refusal shows as an alert in place', async () => {
    const api = apiWithSnapshots();
    api.failNext('takeSnapshot', 'wrong_state', 'cannot snapshot sandbox "alpha": it is stopped');
    const { user, detail } = await openSnapshots(api);
    await user.click(within(detail).getByRole('button', { name: 'Take snapshot' }));
    expect((await within(detail).findByRole('alert')).textContent).toBe('cannot snapshot sandbox "alpha": it is stopped');
  });

  test('a snapshot event from another client refreshes the tree', async () => {
    const api = apiWithSnapshots();
    const { tree } = await openSnapshots(api);
    const held = api.snapshots.get('id-alpha')!;
    const outside = makeSnapshot('id-alpha', 'from-cli', 'snap-tested');
    api.setSnapshots('id-alpha', [...held.list, outside], outside.id);
    act(() => api.emit({ type: 'snapshot', id: 'id-alpha', name: 'alpha', action: 'created', snapshotId: outside.id, snapshotName: 'from-cli', at: Date.now() }));
    await waitFor(() => expect(item(tree, 'from-cli').getAttribute('aria-current')).toBe('true'));
  });
});

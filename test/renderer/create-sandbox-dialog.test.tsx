import { cleanup, screen, waitFor, within } from '@testing-library/react';
import { afterEach, describe, expect, test } from 'vitest';
import { FakeAppApi, makeSandbox } from './fake-app-api';
import { renderApp, rowOf } from './render-app';

afterEach(cleanup);

async function openDialog(user: ReturnType<typeof renderApp>['user']) {
  await user.click(screen.getByRole('button', { name: 'New sandbox' }));
  const dialog = screen.getByRole('dialog', { name: 'Create sandbox' });
  // Templates and limits come from the api.
  await within(dialog).findByRole('option', { name: 'minimal' });
  return dialog;
}

function describedText(field: HTMLElement): string {
  const ids = field.getAttribute('aria-describedby')?.split(' ') ?? [];
  return ids.map((id) => document.getElementById(id)?.textContent ?? '').join(' ');
}

describe('create sandbox dialog', () => {
  test('offers the templates, and shows problems next to their fields without calling the api', async () => {
    const api = new FakeAppApi();
    const { user } = renderApp(api);
    const dialog = await openDialog(user);
    const template = within(dialog).getByLabelText('Template') as HTMLSelectElement;
    expect(within(template).getAllByRole('option').map((option) => option.textContent)).toEqual(['minimal', 'python (built on first use)']);
    expect(template.value).toBe('minimal');

    await user.type(within(dialog).getByLabelText('Name'), '-Bad_Name');
    await user.type(within(dialog).getByLabelText('vCPUs'), '9');
    await user.type(within(dialog).getByLabelText('Memory (MiB)'), '32');
    await user.click(within(dialog).getByRole('button', { name: 'Create' }));

    const name = within(dialog).getByLabelText('Name');
    expect(name.getAttribute('aria-invalid')).toBe('true');
    expect(describedText(name)).toBe('Name must be 1-63 characters of a-z, 0-9 and -, and cannot start or end with -');
    const vcpus = within(dialog).getByLabelText('vCPUs');
    expect(vcpus.getAttribute('aria-invalid')).toBe('true');
    expect(describedText(vcpus)).toBe('vCPUs must be from 1 to 4');
    const memory = within(dialog).getByLabelText('Memory (MiB)');
    expect(describedText(memory)).toBe('Memory must be from 64 to 8192 MiB');
    // The first field in error takes the focus, so the keyboard user lands on it.
    expect(document.activeElement).toBe(name);
    expect(api.callsTo('createSandbox')).toEqual([]);

    // Fixing a field clears its message as the user types.
    await user.clear(vcpus);
    await user.type(vcpus, '4');
    expect(vcpus.getAttribute('aria-invalid')).toBe('false');
    expect(describedText(vcpus)).toBe('1-4; empty for the default');
  });

  test('creates with the right body; the dialog closes and the row goes from creating to running', async () => {
    const api = new FakeAppApi([makeSandbox('alpha')]);
    let release!: () => void;
    api.createGate = new Promise((resolve) => (release = resolve));
    const { user } = renderApp(api);
    await screen.findByRole('button', { name: 'alpha' });
    const dialog = await openDialog(user);

    await user.type(within(dialog).getByLabelText('Name'), 'web-1');
    await user.selectOptions(within(dialog).getByLabelText('Template'), 'python');
    await user.type(within(dialog).getByLabelText('vCPUs'), '2');
    await user.type(within(dialog).getByLabelText('Memory (MiB)'), '512');
    await user.click(within(dialog).getByRole('button', { name: 'Create' }));

    expect(api.callsTo('createSandbox')).toEqual([[{ name: 'web-1', template: 'python', vcpus: 2, memoryMiB: 512 }]]);
    await waitFor(() => expect(screen.queryByRole('dialog')).toBeNull());
    expect(within(rowOf('web-1')).getAllByRole('cell')[1]?.textContent).toBe('creating');
    // The new sandbox is selected, so its detail follows the boot.
    expect(screen.getByRole('region', { name: 'Sandbox web-1' })).toBeTruthy();

    release();
    await waitFor(() => expect(within(rowOf('web-1')).getAllByRole('cell')[1]?.textContent).toBe('running'));
  });

  test('empty optional fields leave the choice to the daemon', async () => {
    const api = new FakeAppApi();
    const { user } = renderApp(api);
    const dialog = await openDialog(user);
    await user.click(within(dialog).getByRole('button', { name: 'Create' }));
    expect(api.callsTo('createSandbox')).toEqual([[{ template: 'minimal' }]]);
  });

  test("the daemon's refusal shows in the dialog, which stays open", async () => {
    const api = new FakeAppApi([makeSandbox('alpha')]);
    const { user } = renderApp(api);
    await screen.findByRole('button', { name: 'alpha' });
    const dialog = await openDialog(user);
    await user.type(within(dialog).getByLabelText('Name'), 'alpha');
    await user.click(within(dialog).getByRole('button', { name: 'Create' }));
    expect((await within(dialog).findByRole('alert')).textContent).toBe('a sandbox named "alpha" already exists');
    expect(screen.getByRole('dialog', { name: 'Create sandbox' })).toBe(dialog);
    expect((within(dialog).getByRole('button', { name: 'Create' }) as HTMLButtonElement).disabled).toBe(false);
  });

  test('a failure to read templates and limits is shown in the dialog', async () => {
    const api = new FakeAppApi();
    api.failNext('templates', 'internal', 'templates directory unreadable');
    const { user } = renderApp(api);
    await user.click(screen.getByRole('button', { name: 'New sandbox' }));
    const dialog = screen.getByRole('dialog', { name: 'Create sandbox' });
    expect((await within(dialog).findByRole('alert')).textContent).toContain('templates directory unreadable');
  });

  test('keeps Tab inside, closes on Escape and gives focus back to New sandbox', async () => {
    const { user } = renderApp(new FakeAppApi());
    const opener = screen.getByRole('button', { name: 'New sandbox' });
    const dialog = await openDialog(user);
    expect(dialog.contains(document.activeElement)).toBe(true);
    for (let i = 0; i < 8; i++) {
      await user.tab();
      expect(dialog.contains(document.activeElement)).toBe(true);
    }
    await user.tab({ shift: true });
    expect(dialog.contains(document.activeElement)).toBe(true);

    await user.keyboard('{Escape}');
    expect(screen.queryByRole('dialog')).toBeNull();
    expect(document.activeElement).toBe(opener);
  });
});

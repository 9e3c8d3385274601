import './jsdom-shims';
import { render, screen, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { App } from '../../src/renderer/src/app/app';
import { FakeAppApi } from './fake-app-api';

/** Renders the whole app over a fake AppApi, as a person would meet it. */
export function renderApp(api: FakeAppApi = new FakeAppApi(), options: { usageIntervalMs?: number } = {}) {
  const user = userEvent.setup();
  const view = render(<App api={api} usageIntervalMs={options.usageIntervalMs ?? 60_000} />);
  return { api, user, ...view };
}

/** Waits for the list, then opens a sandbox's detail by its name button. */
export async function openSandbox(user: ReturnType<typeof userEvent.setup>, name: string) {
  const table = await screen.findByRole('table', { name: 'Sandboxes' });
  await user.click(await within(table).findByRole('button', { name }));
  return screen.findByRole('region', { name: `Sandbox ${name}` });
}

export function rowOf(name: string): HTMLElement {
  const table = screen.getByRole('table', { name: 'Sandboxes' });
  const row = within(table)
    .getAllByRole('row')
    .find((candidate) => within(candidate).queryByRole('button', { name }) !== null);
  if (!row) throw new Error(`no row for ${name}`);
  return row;
}

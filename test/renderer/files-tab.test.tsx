import { act, cleanup, fireEvent, screen, waitFor, within } from '@testing-library/react';
import { afterEach, describe, expect, test } from 'vitest';
import { FakeAppApi, makeEntry, makeSandbox } from './fake-app-api';
import { openSandbox, renderApp } from './render-app';

afterEach(cleanup);

function apiWithFiles() {
  const api = new FakeAppApi([makeSandbox('alpha')]);
  api.addFiles('id-alpha', [
    makeEntry('/root', 'dir'),
    makeEntry('/root/notes.txt', 'file', 2048),
    makeEntry('/root/project', 'dir'),
    makeEntry('/root/project/main.py', 'file', 120),
  ]);
  return api;
}

async function openFiles(api: FakeAppApi) {
  const view = renderApp(api);
  const detail = await openSandbox(view.user, 'alpha');
  await view.user.click(within(detail).getByRole('tab', { name: 'Files' }));
  const table = within(detail).getByRole('table', { name: 'Files' });
  await within(table).findByRole('button', { name: 'project' });
  return { ...view, detail, table };
}

const fileNames = (table: HTMLElement) =>
  within(table)
    .getAllByRole('row')
    .slice(1)
    .map((row) => within(row).getAllByRole('cell')[0]?.textContent);

function file(name: string, size: number): File {
  return new File(['x'.repeat(size)], name, { type: 'text/plain' });
}

/** What Chromium's DataTransferItem.webkitGetAsEntry() hands out, for a dropped tree. */
type Tree = { [name: string]: File | Tree };
function entryFor(name: string, content: File | Tree, path = `/${name}`): FileSystemEntry {
  if (content instanceof File) {
    return { name, fullPath: path, isFile: true, isDirectory: false, file: (done: (file: File) => void) => done(content) } as unknown as FileSystemEntry;
  }
  const children = Object.entries(content).map(([child, value]) => entryFor(child, value, `${path}/${child}`));
  return {
    name,
    fullPath: path,
    isFile: false,
    isDirectory: true,
    createReader: () => {
      // Two batches, then the empty one that ends the listing, as Chromium does past 100 entries.
      const batches = [children.slice(0, 1), children.slice(1), []];
      return { readEntries: (done: (entries: FileSystemEntry[]) => void) => done(batches.shift() ?? []) };
    },
  } as unknown as FileSystemEntry;
}

function dropItems(entries: Array<FileSystemEntry | null>, files: File[] = []) {
  return {
    types: ['Files'],
    files,
    items: entries.map((entry, index) => ({ kind: 'file', webkitGetAsEntry: () => entry, getAsFile: () => files[index] ?? null })),
  };
}

describe('files tab', () => {
  test('lists the home directory, opens a directory and goes back Up; the Path box navigates on Enter', async () => {
    const api = apiWithFiles();
    const { user, detail, table } = await openFiles(api);
    expect(api.callsTo('listFiles')[0]).toEqual(['id-alpha', '/root']);
    // Directories first.
    expect(fileNames(table)).toEqual(['project', 'notes.txt']);
    expect(within(table).getByRole('button', { name: 'Download notes.txt' })).toBeTruthy();
    expect(within(table).queryByRole('button', { name: 'Download project' })).toBeNull();

    await user.click(within(table).getByRole('button', { name: 'project' }));
    await waitFor(() => expect(fileNames(table)).toEqual(['main.py']));
    const path = within(detail).getByRole('textbox', { name: 'Path' }) as HTMLInputElement;
    expect(path.value).toBe('/root/project');

    await user.click(within(detail).getByRole('button', { name: 'Up' }));
    await waitFor(() => expect(path.value).toBe('/root'));

    await user.clear(path);
    await user.type(path, '/root/project/{Enter}');
    await waitFor(() => expect(fileNames(table)).toEqual(['main.py']));
    expect(api.callsTo('listFiles').at(-1)).toEqual(['id-alpha', '/root/project']);

    await user.clear(path);
    await user.type(path, '/nowhere{Enter}');
    expect((await within(detail).findByRole('alert')).textContent).toContain('Cannot open /nowhere: /nowhere: no such directory');
    expect(fileNames(table)).toEqual(['main.py']);
  });

  test('dropping two files uploads both with progress bars, cancel and a refreshed listing', async () => {
    const api = apiWithFiles();
    const { user, detail, table } = await openFiles(api);
    const zone = within(detail).getByRole('region', { name: 'Upload drop zone' });
    fireEvent.drop(zone, { dataTransfer: { types: ['Files'], files: [file('a.txt', 100), file('b.bin', 400)] } });

    await waitFor(() => expect(api.uploads).toHaveLength(1));
    const upload = api.uploads[0]!;
    expect(upload.destDir).toBe('/root');
    expect(upload.items.map((item) => item.relativePath)).toEqual(['a.txt', 'b.bin']);
    expect(upload.items.map((item) => item.file.size)).toEqual([100, 400]);

    const uploads = within(detail).getByRole('list', { name: 'Uploads' });
    expect(within(uploads).getAllByRole('listitem')).toHaveLength(2);
    act(() => upload.progress(1, 100));
    const barB = within(uploads).getByRole('progressbar', { name: 'b.bin' });
    expect(barB.getAttribute('aria-valuenow')).toBe('25');
    expect(within(uploads).getByRole('progressbar', { name: 'a.txt' }).getAttribute('aria-valuenow')).toBe('0');

    await user.click(within(uploads).getByRole('button', { name: 'Cancel b.bin' }));
    expect(upload.cancelled).toEqual([1]);
    expect(within(uploads).getAllByRole('listitem')[1]?.textContent).toContain('cancelled');
    expect(within(uploads).queryByRole('button', { name: 'Cancel b.bin' })).toBeNull();

    const listings = api.callsTo('listFiles').length;
    act(() => upload.finish());
    await waitFor(() => expect(within(uploads).getAllByRole('listitem')[0]?.textContent).toContain('done'));
    expect(within(uploads).getByRole('progressbar', { name: 'a.txt' }).getAttribute('aria-valuenow')).toBe('100');
    await waitFor(() => expect(api.callsTo('listFiles').length).toBe(listings + 1));
    await waitFor(() => expect(fileNames(table)).toContain('a.txt'));

    await user.click(within(detail).getByRole('button', { name: 'Clear finished' }));
    expect(within(detail).queryByRole('list', { name: 'Uploads' })).toBeNull();
  });

  test('a failed file says why', async () => {
    const api = apiWithFiles();
    const { detail } = await openFiles(api);
    fireEvent.drop(within(detail).getByRole('region', { name: 'Upload drop zone' }), { dataTransfer: { types: ['Files'], files: [file('big.iso', 10)] } });
    await waitFor(() => expect(api.uploads).toHaveLength(1));
    act(() => api.uploads[0]!.fail(0, 'no space left on device'));
    const uploads = within(detail).getByRole('list', { name: 'Uploads' });
    expect(within(uploads).getAllByRole('listitem')[0]?.textContent).toContain('failed: no space left on device');
  });

  test('a dropped folder is walked into relative paths, next to a dropped file', async () => {
    const api = apiWithFiles();
    const { detail } = await openFiles(api);
    const readme = file('README.md', 5);
    const main = file('main.ts', 7);
    const util = file('util.ts', 9);
    const loose = file('loose.txt', 3);
    const folder = entryFor('project', { 'README.md': readme, src: { 'main.ts': main, 'util.ts': util } });
    fireEvent.drop(within(detail).getByRole('region', { name: 'Upload drop zone' }), { dataTransfer: dropItems([folder, entryFor('loose.txt', loose)], [loose]) });

    await waitFor(() => expect(api.uploads).toHaveLength(1));
    const items = api.uploads[0]!.items;
    expect(items.map((item) => item.relativePath)).toEqual(['project/README.md', 'project/src/main.ts', 'project/src/util.ts', 'loose.txt']);
    expect(items.map((item) => item.file)).toEqual([readme, main, util, loose]);
  });

  test('Upload files offers the file picker as an alternative to dropping', async () => {
    const api = apiWithFiles();
    const { user, detail } = await openFiles(api);
    const picker = detail.querySelector('input[type="file"]') as HTMLInputElement;
    await user.upload(picker, [file('one.txt', 1), file('two.txt', 2)]);
    await waitFor(() => expect(api.uploads).toHaveLength(1));
    expect(api.uploads[0]!.items.map((item) => item.relativePath)).toEqual(['one.txt', 'two.txt']);
  });

  test('Delete asks first; New folder asks the name inline; Download calls the api', async () => {
    const api = apiWithFiles();
    const { user, detail, table } = await openFiles(api);

    await user.click(within(table).getByRole('button', { name: 'Delete project' }));
    const confirm = screen.getByRole('alertdialog', { name: 'Delete project?' });
    expect(confirm.textContent).toContain('The folder /root/project and everything in it are deleted.');
    await user.click(within(confirm).getByRole('button', { name: 'Cancel' }));
    expect(api.callsTo('removePath')).toEqual([]);
    await user.click(within(table).getByRole('button', { name: 'Delete project' }));
    await user.click(within(screen.getByRole('alertdialog')).getByRole('button', { name: 'Delete' }));
    expect(api.callsTo('removePath')).toEqual([['id-alpha', '/root/project']]);
    await waitFor(() => expect(fileNames(table)).toEqual(['notes.txt']));

    await user.click(within(detail).getByRole('button', { name: 'New folder' }));
    const folderName = within(detail).getByRole('textbox', { name: 'Folder name' });
    expect(document.activeElement).toBe(folderName);
    await user.click(within(detail).getByRole('button', { name: 'Create folder' }));
    expect(within(detail).getByText('Enter a folder name')).toBeTruthy();
    await user.type(folderName, 'data');
    await user.click(within(detail).getByRole('button', { name: 'Create folder' }));
    expect(api.callsTo('makeDirectory')).toEqual([['id-alpha', '/root/data']]);
    await waitFor(() => expect(fileNames(table)).toEqual(['data', 'notes.txt']));
    expect(within(detail).queryByRole('textbox', { name: 'Folder name' })).toBeNull();

    await user.click(within(table).getByRole('button', { name: 'Download notes.txt' }));
    expect(api.callsTo('downloadFile')).toEqual([['id-alpha', '/root/notes.txt']]);
  });

  test('a failed action shows its error in place', async () => {
    const api = apiWithFiles();
    const { user, detail, table } = await openFiles(api);
    api.failNext('downloadFile', 'not_found', '/root/notes.txt: no such file');
    await user.click(within(table).getByRole('button', { name: 'Download notes.txt' }));
    expect((await within(detail).findByRole('alert')).textContent).toContain('/root/notes.txt: no such file');
  });
});

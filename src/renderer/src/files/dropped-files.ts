import type { UploadItem } from '../../../shared/app-contract';

/** What a dropped item offers: the entry API (folders too) where the browser has it, else the plain file. */
interface DroppedItem {
  entry: FileSystemEntry | null;
  file: File | null;
}

function fileOf(entry: FileSystemFileEntry): Promise<File> {
  return new Promise((resolve, reject) => entry.file(resolve, reject));
}

function readBatch(reader: FileSystemDirectoryReader): Promise<FileSystemEntry[]> {
  return new Promise((resolve, reject) => reader.readEntries(resolve, reject));
}

function isFileEntry(entry: FileSystemEntry): entry is FileSystemFileEntry {
  return entry.isFile;
}

function isDirectoryEntry(entry: FileSystemEntry): entry is FileSystemDirectoryEntry {
  return entry.isDirectory;
}

/** Every file under an entry, with its path relative to the drop ("dir/sub/a.txt"). */
async function walk(entry: FileSystemEntry, prefix: string): Promise<UploadItem[]> {
  const relativePath = `${prefix}${entry.name}`;
  if (isFileEntry(entry)) return [{ relativePath, file: await fileOf(entry) }];
  if (!isDirectoryEntry(entry)) return [];
  const reader = entry.createReader();
  const items: UploadItem[] = [];
  // readEntries answers in batches (100 in Chromium) until it answers an empty one.
  for (let batch = await readBatch(reader); batch.length > 0; batch = await readBatch(reader)) {
    for (const child of batch) items.push(...(await walk(child, `${relativePath}/`)));
  }
  return items;
}

/**
 * The files of a drop, folders walked recursively. DataTransfer items are only readable
 * during the drop event, so they are taken synchronously here and walked afterwards.
 */
export function droppedFiles(data: DataTransfer): Promise<UploadItem[]> {
  const items = data.items ? [...data.items].filter((item) => item.kind === 'file') : [];
  const dropped: DroppedItem[] = items.map((item) => ({ entry: item.webkitGetAsEntry?.() ?? null, file: item.getAsFile() }));
  if (dropped.length === 0) return Promise.resolve([...data.files].map((file) => ({ relativePath: file.name, file })));
  return Promise.all(
    dropped.map(({ entry, file }) => (entry ? walk(entry, '') : Promise.resolve(file ? [{ relativePath: file.name, file }] : []))),
  ).then((lists) => lists.flat());
}

/** Files from the file picker; a folder picker fills webkitRelativePath. */
export function pickedFiles(files: FileList): UploadItem[] {
  return [...files].map((file) => ({ relativePath: file.webkitRelativePath || file.name, file }));
}

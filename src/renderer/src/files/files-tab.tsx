import { useEffect, useRef, useState, type DragEvent } from 'react';
import { useStore } from 'zustand';
import type { FileInfo } from '../../../shared/api/file-schemas';
import { AppError, type UploadItem } from '../../../shared/app-contract';
import { useAppServices } from '../app/app-services';
import { ConfirmDialog } from '../dialogs/confirm-dialog';
import type { ListedSandbox } from '../stores/sandboxes-store';
import { START_PATH } from '../stores/files-store';
import { droppedFiles, pickedFiles } from './dropped-files';
import { FileTable } from './file-table';
import { parentGuestPath, typedGuestPath } from './guest-paths';
import { NewFolderForm } from './new-folder-form';
import { UploadList } from './upload-list';

/** Browses the guest's files; drops of files and folders upload into the directory shown. */
export function FilesTab({ sandbox }: { sandbox: ListedSandbox }) {
  const { stores } = useAppServices();
  const id = sandbox.id;
  const browser = useStore(stores.files, (state) => state.bySandbox[id]);
  const path = browser?.path ?? START_PATH;
  const [typed, setTyped] = useState(path);
  const [pathProblem, setPathProblem] = useState<string | null>(null);
  const [addingFolder, setAddingFolder] = useState(false);
  const [deleting, setDeleting] = useState<FileInfo | null>(null);
  const [dragging, setDragging] = useState(false);
  const [dropError, setDropError] = useState<string | null>(null);
  const picker = useRef<HTMLInputElement>(null);
  const files = stores.files.getState();

  useEffect(() => {
    void stores.files.getState().refresh(id);
  }, [stores, id]);
  useEffect(() => setTyped(path), [path]);

  const open = (target: string) => {
    setPathProblem(null);
    void files.open(id, target);
  };
  const navigateTyped = () => {
    const result = typedGuestPath(typed);
    if ('error' in result) setPathProblem(result.error);
    else open(result.path);
  };
  const upload = (items: UploadItem[]) => {
    if (items.length === 0) return;
    // The listing shows the new files once every one has finished, failed or been cancelled.
    void stores.uploads
      .getState()
      .start(id, path, items)
      .then(() => stores.files.getState().refresh(id));
  };
  const drop = (event: DragEvent<HTMLDivElement>) => {
    event.preventDefault();
    setDragging(false);
    setDropError(null);
    droppedFiles(event.dataTransfer).then(upload, (error: unknown) => setDropError(`Cannot read the dropped files: ${AppError.from(error).message}`));
  };
  const dragOver = (event: DragEvent<HTMLDivElement>) => {
    if (![...event.dataTransfer.types].includes('Files')) return;
    event.preventDefault();
    event.dataTransfer.dropEffect = 'copy';
    setDragging(true);
  };

  return (
    <div className="files-tab">
      <div className="toolbar">
        <input
          type="text"
          className="path-input"
          aria-label="Path"
          aria-invalid={Boolean(pathProblem)}
          spellCheck={false}
          value={typed}
          onChange={(event) => setTyped(event.target.value)}
          onKeyDown={(event) => {
            if (event.key === 'Enter') navigateTyped();
          }}
        />
        <button type="button" className="small" disabled={path === '/'} onClick={() => open(parentGuestPath(path))}>
          Up
        </button>
        <button type="button" className="small" onClick={() => open(path)}>
          Refresh
        </button>
        <button type="button" className="small" aria-expanded={addingFolder} onClick={() => setAddingFolder((shown) => !shown)}>
          New folder
        </button>
        <button type="button" className="small" onClick={() => picker.current?.click()}>
          Upload files
        </button>
        <input
          ref={picker}
          type="file"
          multiple
          hidden
          tabIndex={-1}
          onChange={(event) => {
            if (event.target.files) upload(pickedFiles(event.target.files));
            event.target.value = '';
          }}
        />
        {browser?.loading && <span className="toolbar-hint">Loading…</span>}
      </div>
      {addingFolder && <NewFolderForm onCreate={(name) => files.makeDirectory(id, name)} onCancel={() => setAddingFolder(false)} />}
      {pathProblem && (
        <p role="alert" className="error">
          {pathProblem}
        </p>
      )}
      {browser?.error && (
        <p role="alert" className="error">
          {browser.error}
          <button type="button" className="icon-button" aria-label="Dismiss error" onClick={() => files.clearError(id)}>
            ×
          </button>
        </p>
      )}
      {dropError && (
        <p role="alert" className="error">
          {dropError}
        </p>
      )}
      <div
        role="region"
        aria-label="Upload drop zone"
        className={`drop-zone${dragging ? ' dragging' : ''}`}
        onDragEnter={dragOver}
        onDragOver={dragOver}
        onDragLeave={(event) => {
          if (!event.currentTarget.contains(event.relatedTarget as Node | null)) setDragging(false);
        }}
        onDrop={drop}
      >
        <FileTable entries={browser?.entries ?? null} onOpen={(entry) => open(entry.path)} onDownload={(entry) => void files.download(id, entry)} onDelete={setDeleting} />
        {dragging && <div className="drop-hint">Drop files or folders to upload them to {path}</div>}
      </div>
      <UploadList sandboxId={id} />
      {deleting && (
        <ConfirmDialog
          title={`Delete ${deleting.name}?`}
          message={deleting.type === 'dir' ? `The folder ${deleting.path} and everything in it are deleted.` : `${deleting.path} is deleted.`}
          confirmLabel="Delete"
          onConfirm={() => void files.remove(id, deleting)}
          onClose={() => setDeleting(null)}
        />
      )}
    </div>
  );
}

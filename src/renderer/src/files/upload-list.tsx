import { useStore } from 'zustand';
import { useAppServices } from '../app/app-services';
import { isFinished, type UploadRow } from '../stores/uploads-store';

function percentOf(row: UploadRow): number {
  if (row.state === 'done') return 100;
  return row.total > 0 ? Math.min(100, Math.round((row.loaded / row.total) * 100)) : 0;
}

function stateText(row: UploadRow, percent: number): string {
  switch (row.state) {
    case 'queued':
      return 'queued';
    case 'uploading':
      return `${percent}%`;
    case 'failed':
      return `failed: ${row.error ?? 'unknown error'}`;
    default:
      return row.state;
  }
}

/** Each uploaded file with its progress, a way to cancel it while it runs, and how it ended. */
export function UploadList({ sandboxId }: { sandboxId: string }) {
  const { stores } = useAppServices();
  const rows = useStore(stores.uploads, (state) => state.bySandbox[sandboxId]);
  if (!rows || rows.length === 0) return null;
  const { cancel, clearFinished } = stores.uploads.getState();

  return (
    <div className="uploads">
      <div className="uploads-header">
        <h3>Uploads</h3>
        {rows.some(isFinished) && (
          <button type="button" className="small" onClick={() => clearFinished(sandboxId)}>
            Clear finished
          </button>
        )}
      </div>
      <ul role="list" aria-label="Uploads" className="upload-list">
        {rows.map((row) => {
          const percent = percentOf(row);
          return (
            <li key={row.key} className={`upload upload-${row.state}`}>
              <span className="upload-path">{row.relativePath}</span>
              <div role="progressbar" aria-label={row.relativePath} aria-valuemin={0} aria-valuemax={100} aria-valuenow={percent} className="progress">
                <div className="progress-bar" style={{ width: `${percent}%` }} />
              </div>
              <span className="upload-state">{stateText(row, percent)}</span>
              {!isFinished(row) && (
                <button type="button" className="small" aria-label={`Cancel ${row.relativePath}`} onClick={() => cancel(row.key)}>
                  Cancel
                </button>
              )}
            </li>
          );
        })}
      </ul>
    </div>
  );
}

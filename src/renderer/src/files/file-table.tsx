import type { FileInfo } from '../../../shared/api/file-schemas';
import { formatBytes, formatTimestamp } from '../format/sizes';

export interface FileTableProps {
  entries: FileInfo[] | null;
  onOpen: (entry: FileInfo) => void;
  onDownload: (entry: FileInfo) => void;
  onDelete: (entry: FileInfo) => void;
}

export function FileTable({ entries, onOpen, onDownload, onDelete }: FileTableProps) {
  return (
    <table className="grid-table file-table" aria-label="Files">
      <thead>
        <tr>
          <th scope="col">Name</th>
          <th scope="col" className="numeric">
            Size
          </th>
          <th scope="col">Modified</th>
          <th scope="col">Actions</th>
        </tr>
      </thead>
      <tbody>
        {entries?.map((entry) => (
          <tr key={entry.path}>
            <td className={`file-name file-${entry.type}`}>
              {entry.type === 'dir' ? (
                <button type="button" className="link-button" onClick={() => onOpen(entry)}>
                  {entry.name}
                </button>
              ) : (
                <span>{entry.name}</span>
              )}
              {entry.linkTarget !== undefined && <span className="link-target"> → {entry.linkTarget}</span>}
            </td>
            <td className="numeric">{entry.type === 'dir' ? '' : formatBytes(entry.size)}</td>
            <td>{formatTimestamp(entry.mtime)}</td>
            <td className="cell-actions">
              {entry.type === 'file' && (
                <button type="button" className="small" aria-label={`Download ${entry.name}`} onClick={() => onDownload(entry)}>
                  Download
                </button>
              )}
              <button type="button" className="small danger" aria-label={`Delete ${entry.name}`} onClick={() => onDelete(entry)}>
                Delete
              </button>
            </td>
          </tr>
        ))}
        {entries?.length === 0 && (
          <tr>
            <td colSpan={4} className="empty">
              Empty folder. Drop files or folders here to upload them.
            </td>
          </tr>
        )}
      </tbody>
    </table>
  );
}

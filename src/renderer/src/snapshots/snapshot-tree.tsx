import { useState, type KeyboardEvent } from 'react';
import type { Snapshot } from '../../../shared/api/snapshot-schemas';
import { formatBytes, formatTimestamp } from '../format/sizes';
import type { SnapshotNode } from './snapshot-forest';

export interface SnapshotActions {
  onRestore: (snapshot: Snapshot) => void;
  onFork: (snapshot: Snapshot) => void;
  onDelete: (snapshot: Snapshot) => void;
}

interface TreeProps extends SnapshotActions {
  roots: SnapshotNode[];
  currentId: string | null;
  busy: boolean;
}

/** Up, Down, Home and End move between snapshots; Tab reaches each snapshot's buttons. */
function moveFocus(event: KeyboardEvent<HTMLUListElement>) {
  const target = event.target as HTMLElement;
  if (target.getAttribute('role') !== 'treeitem') return;
  const items = [...event.currentTarget.querySelectorAll<HTMLElement>('[role="treeitem"]')];
  const index = items.indexOf(target);
  const next = { ArrowDown: index + 1, ArrowUp: index - 1, Home: 0, End: items.length - 1 }[event.key];
  if (next === undefined) return;
  event.preventDefault();
  items[Math.max(0, Math.min(items.length - 1, next))]?.focus();
}

export function SnapshotTree({ roots, currentId, busy, ...actions }: TreeProps) {
  const [focusedId, setFocusedId] = useState<string | null>(null);
  const tabbableId = focusedId ?? currentId ?? roots[0]?.snapshot.id ?? null;

  const item = ({ snapshot, children }: SnapshotNode) => {
    const current = snapshot.id === currentId;
    return (
      <li
        key={snapshot.id}
        role="treeitem"
        aria-label={`${snapshot.name}${current ? ' (current)' : ''}`}
        aria-current={current ? 'true' : undefined}
        aria-expanded={children.length > 0 ? true : undefined}
        tabIndex={snapshot.id === tabbableId ? 0 : -1}
        className={`snapshot${current ? ' current' : ''}`}
        onFocus={(event) => {
          if (event.target === event.currentTarget) setFocusedId(snapshot.id);
        }}
      >
        <div className="snapshot-node">
          {snapshot.thumbnail && <img className="snapshot-thumbnail" src={snapshot.thumbnail} alt={`Screen of ${snapshot.name}`} />}
          <span className="snapshot-name">{snapshot.name}</span>
          {current && <span className="badge badge-current">current</span>}
          <span className="snapshot-meta">
            {formatTimestamp(snapshot.createdAt)} · {formatBytes(snapshot.stateBytes + snapshot.diskBytes)}
            {snapshot.description && ` · ${snapshot.description}`}
          </span>
          <span className="snapshot-actions">
            <button type="button" className="small" aria-label={`Restore ${snapshot.name}`} disabled={busy} onClick={() => actions.onRestore(snapshot)}>
              Restore
            </button>
            <button type="button" className="small" aria-label={`Fork ${snapshot.name}`} disabled={busy} onClick={() => actions.onFork(snapshot)}>
              Fork
            </button>
            <button type="button" className="small danger" aria-label={`Delete ${snapshot.name}`} disabled={busy} onClick={() => actions.onDelete(snapshot)}>
              Delete
            </button>
          </span>
        </div>
        {children.length > 0 && (
          <ul role="group" className="snapshot-children">
            {children.map(item)}
          </ul>
        )}
      </li>
    );
  };

  return (
    <ul role="tree" aria-label="Snapshots" className="snapshot-tree" onKeyDown={moveFocus}>
      {roots.map(item)}
    </ul>
  );
}

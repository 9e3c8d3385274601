import { useEffect, useMemo, useState, type FormEvent } from 'react';
import { useStore } from 'zustand';
import type { Snapshot } from '../../../shared/api/snapshot-schemas';
import { useAppServices } from '../app/app-services';
import { ConfirmDialog } from '../dialogs/confirm-dialog';
import type { ListedSandbox } from '../stores/sandboxes-store';
import { snapshotForest } from './snapshot-forest';
import { SnapshotTree } from './snapshot-tree';

type Confirming = { kind: 'restore' | 'delete'; snapshot: Snapshot };

export function SnapshotsTab({ sandbox }: { sandbox: ListedSandbox }) {
  const { stores } = useAppServices();
  const id = sandbox.id;
  const view = useStore(stores.snapshots, (state) => state.bySandbox[id]);
  const [name, setName] = useState('');
  const [confirming, setConfirming] = useState<Confirming | null>(null);
  const snapshots = stores.snapshots.getState();
  const tree = view?.tree ?? null;
  const roots = useMemo(() => (tree ? snapshotForest(tree.snapshots) : []), [tree]);
  const currentId = tree ? (tree.current ?? tree.snapshots.find((snapshot) => snapshot.current)?.id ?? null) : null;
  const activity = view?.activity ?? null;
  const working = activity?.tone === 'working';

  useEffect(() => {
    void stores.snapshots.getState().load(id);
  }, [stores, id]);

  const take = (event: FormEvent) => {
    event.preventDefault();
    const wanted = name.trim();
    void snapshots.take(id, wanted || undefined).then(() => setName(''));
  };

  return (
    <div className="snapshots-tab">
      <form className="toolbar" onSubmit={take}>
        <input type="text" aria-label="Snapshot name" placeholder="Name (optional)" maxLength={64} value={name} onChange={(event) => setName(event.target.value)} />
        <button type="submit" className="small primary" disabled={working}>
          Take snapshot
        </button>
      </form>
      <p role="status" className="activity">
        {activity && activity.tone !== 'failed' ? activity.message : ''}
      </p>
      {activity?.tone === 'failed' && (
        <p role="alert" className="error">
          {activity.message}
        </p>
      )}
      {view?.loadError && (
        <p role="alert" className="error">
          Cannot read snapshots: {view.loadError}
        </p>
      )}
      {tree && tree.snapshots.length === 0 && <p className="placeholder">No snapshots yet. A snapshot saves the running sandbox&apos;s memory and disk.</p>}
      {!tree && !view?.loadError && <p className="placeholder">Loading snapshots…</p>}
      {roots.length > 0 && (
        <SnapshotTree
          roots={roots}
          currentId={currentId}
          busy={working}
          onRestore={(snapshot) => setConfirming({ kind: 'restore', snapshot })}
          onFork={(snapshot) => void snapshots.fork(id, snapshot.id, snapshot.name)}
          onDelete={(snapshot) => setConfirming({ kind: 'delete', snapshot })}
        />
      )}
      {confirming?.kind === 'restore' && (
        <ConfirmDialog
          title={`Restore ${confirming.snapshot.name}?`}
          message={`${sandbox.name} goes back to the state of snapshot ${confirming.snapshot.name}; what changed since then is lost unless a snapshot holds it.`}
          confirmLabel="Restore"
          onConfirm={() => void snapshots.restore(id, confirming.snapshot.id, confirming.snapshot.name)}
          onClose={() => setConfirming(null)}
        />
      )}
      {confirming?.kind === 'delete' && (
        <ConfirmDialog
          title={`Delete snapshot ${confirming.snapshot.name}?`}
          message={`Snapshot ${confirming.snapshot.name} is deleted; snapshots taken after it stay, attached to its parent.`}
          confirmLabel="Delete"
          onConfirm={() => void snapshots.remove(id, confirming.snapshot.id, confirming.snapshot.name)}
          onClose={() => setConfirming(null)}
        />
      )}
    </div>
  );
}

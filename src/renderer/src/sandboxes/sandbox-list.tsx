import { useCallback, useMemo, useState } from 'react';
import { useStore } from 'zustand';
import type { LifecycleAction } from '../../../shared/app-contract';
import { useAppServices } from '../app/app-services';
import { ConfirmDialog } from '../dialogs/confirm-dialog';
import type { ListedSandbox } from '../stores/sandboxes-store';
import { SandboxRow } from './sandbox-row';

function matches(sandbox: ListedSandbox, filter: string): boolean {
  return sandbox.name.toLowerCase().includes(filter) || (sandbox.template ?? '').toLowerCase().includes(filter);
}

export function SandboxList() {
  const { stores } = useAppServices();
  const sandboxes = useStore(stores.sandboxes, (state) => state.sandboxes);
  const loaded = useStore(stores.sandboxes, (state) => state.loaded);
  const loadError = useStore(stores.sandboxes, (state) => state.loadError);
  const selectedId = useStore(stores.sandboxes, (state) => state.selectedId);
  const busy = useStore(stores.sandboxes, (state) => state.busy);
  const figures = useStore(stores.usage, (state) => state.figures);
  const [filter, setFilter] = useState('');
  const wanted = filter.trim().toLowerCase();
  const [deleting, setDeleting] = useState<ListedSandbox | null>(null);

  const all = useMemo(() => Object.values(sandboxes).sort((a, b) => a.name.localeCompare(b.name)), [sandboxes]);
  const shown = useMemo(() => (wanted ? all.filter((sandbox) => matches(sandbox, wanted)) : all), [all, wanted]);

  // Stable callbacks keep the memoized rows from re-rendering when only another row changed.
  const select = useCallback((id: string) => stores.sandboxes.getState().select(id), [stores]);
  const act = useCallback((id: string, action: LifecycleAction) => void stores.sandboxes.getState().runAction(id, action), [stores]);
  const askDelete = useCallback((id: string) => setDeleting(stores.sandboxes.getState().sandboxes[id] ?? null), [stores]);

  return (
    <section className="list-pane" aria-label="Sandbox list">
      <div className="toolbar">
        <input
          type="text"
          className="filter"
          aria-label="Filter sandboxes"
          placeholder="Filter by name or template"
          value={filter}
          onChange={(event) => setFilter(event.target.value)}
        />
        <span className="count">{wanted ? `${shown.length} of ${all.length}` : `${all.length} sandboxes`}</span>
      </div>
      {loadError && (
        <p role="alert" className="error">
          Cannot list sandboxes: {loadError}
        </p>
      )}
      <div className="table-scroll">
        <table className="grid-table sandbox-table" aria-label="Sandboxes">
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">State</th>
              <th scope="col">Template</th>
              <th scope="col" className="numeric">
                vCPUs
              </th>
              <th scope="col" className="numeric">
                Memory
              </th>
              <th scope="col" className="numeric">
                CPU
              </th>
              <th scope="col" className="numeric">
                RAM
              </th>
              <th scope="col">Actions</th>
            </tr>
          </thead>
          <tbody>
            {shown.map((sandbox) => (
              <SandboxRow
                key={sandbox.id}
                sandbox={sandbox}
                usage={figures[sandbox.id]}
                selected={sandbox.id === selectedId}
                busy={sandbox.id in busy}
                onSelect={select}
                onAction={act}
                onDelete={askDelete}
              />
            ))}
          </tbody>
        </table>
        {loaded && all.length === 0 && !loadError && <p className="empty">No sandboxes yet. Create one with New sandbox.</p>}
        {all.length > 0 && shown.length === 0 && <p className="empty">No sandbox matches “{filter}”.</p>}
      </div>
      {deleting && (
        <ConfirmDialog
          title={`Delete ${deleting.name}?`}
          message={`The sandbox ${deleting.name}, its disk and its snapshots are removed for good.`}
          confirmLabel="Delete"
          onConfirm={() => void stores.sandboxes.getState().remove(deleting.id)}
          onClose={() => setDeleting(null)}
        />
      )}
    </section>
  );
}

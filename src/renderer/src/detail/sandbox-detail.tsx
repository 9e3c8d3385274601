import { lazy, Suspense, useId, useState } from 'react';
import { useStore } from 'zustand';
import { useAppServices } from '../app/app-services';
import { ConsoleTab } from '../console/console-tab';
import { panelId, tabId, TabStrip } from '../controls/tab-strip';
import { ConfirmDialog } from '../dialogs/confirm-dialog';
import { DisplayTab } from '../display/display-tab';
import { FilesTab } from '../files/files-tab';
import { PortsTab } from '../ports/ports-tab';
import { StateBadge } from '../sandboxes/state-badge';
import { SnapshotsTab } from '../snapshots/snapshots-tab';
import type { ListedSandbox } from '../stores/sandboxes-store';
import { DETAIL_TABS, type DetailTab } from '../../../shared/app-routes';

// xterm.js is the largest dependency: it loads when a terminal is first shown, not with the list.
const TerminalTab = lazy(() => import('../terminal/terminal-tab'));

const LABELS: Record<DetailTab, string> = { terminal: 'Terminal', files: 'Files', snapshots: 'Snapshots', console: 'Console', display: 'Display', ports: 'Ports' };
const TABS = DETAIL_TABS.map((key) => ({ key, label: LABELS[key] }));
type TabKey = DetailTab;

export function SandboxDetail({ sandbox }: { sandbox: ListedSandbox }) {
  const { stores } = useAppServices();
  const idPrefix = useId();
  const [tab, setTab] = useState<TabKey>(() => stores.sandboxes.getState().openingTab ?? 'terminal');
  const [confirmDelete, setConfirmDelete] = useState(false);
  const progress = useStore(stores.sandboxes, (state) => (sandbox.state === 'creating' ? state.progress[sandbox.name] : undefined));
  const deleting = useStore(stores.sandboxes, (state) => state.busy[sandbox.id] === 'delete');

  const select = (key: string) => setTab(key as TabKey);

  const panel = (key: TabKey) => ({
    role: 'tabpanel' as const,
    id: panelId(idPrefix, key),
    'aria-labelledby': tabId(idPrefix, key),
    hidden: tab !== key,
    className: 'tab-panel',
  });

  return (
    <section className="detail-pane" aria-label={`Sandbox ${sandbox.name}`}>
      <header className="detail-header">
        <h2 className="detail-title">{sandbox.name}</h2>
        <StateBadge state={sandbox.state} reason={sandbox.stateReason} />
        {sandbox.stateReason && <span className="detail-reason">{sandbox.stateReason}</span>}
        {progress && <span className="detail-progress">{progress}</span>}
        {deleting && <span role="status">Deleting…</span>}
        <span className="header-spacer" />
        <button type="button" className="danger" disabled={deleting} onClick={() => setConfirmDelete(true)}>
          Delete sandbox
        </button>
      </header>
      <TabStrip label={`${sandbox.name} views`} tabs={[...TABS]} selected={tab} onSelect={select} idPrefix={idPrefix} />
      {/* Terminals keep running while another tab is shown; the other tabs load afresh when shown. */}
      <div {...panel('terminal')}>
        <Suspense fallback={<p className="placeholder">Loading terminal…</p>}>
          <TerminalTab sandbox={sandbox} visible={tab === 'terminal'} />
        </Suspense>
      </div>
      <div {...panel('files')}>{tab === 'files' && <FilesTab sandbox={sandbox} />}</div>
      <div {...panel('snapshots')}>{tab === 'snapshots' && <SnapshotsTab sandbox={sandbox} />}</div>
      <div {...panel('console')}>{tab === 'console' && <ConsoleTab sandbox={sandbox} />}</div>
      <div {...panel('display')}>{tab === 'display' && <DisplayTab sandbox={sandbox} />}</div>
      <div {...panel('ports')}>{tab === 'ports' && <PortsTab sandbox={sandbox} />}</div>
      {confirmDelete && (
        <ConfirmDialog
          title={`Delete ${sandbox.name}?`}
          message={`The sandbox ${sandbox.name}, its disk and its snapshots are removed for good.`}
          confirmLabel="Delete"
          onConfirm={() => void stores.sandboxes.getState().remove(sandbox.id)}
          onClose={() => setConfirmDelete(false)}
        />
      )}
    </section>
  );
}

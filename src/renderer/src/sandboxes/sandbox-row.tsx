import { memo } from 'react';
import type { LifecycleAction } from '../../../shared/app-contract';
import { formatMiB, formatBytes, formatPercent } from '../format/sizes';
import type { ListedSandbox } from '../stores/sandboxes-store';
import type { UsageFigures } from '../stores/usage-store';
import { ACTION_LABELS, quickActionsFor } from './quick-actions';
import { StateBadge } from './state-badge';

export interface SandboxRowProps {
  sandbox: ListedSandbox;
  usage: UsageFigures | undefined;
  selected: boolean;
  busy: boolean;
  onSelect: (id: string) => void;
  onAction: (id: string, action: LifecycleAction) => void;
  onDelete: (id: string) => void;
}

const UNKNOWN = '—';

/** One sandbox; memoized so a usage reading or an event re-renders only the rows it changed. */
export const SandboxRow = memo(function SandboxRow({ sandbox, usage, selected, busy, onSelect, onAction, onDelete }: SandboxRowProps) {
  const { id, name, state } = sandbox;
  return (
    <tr className={selected ? 'selected' : undefined}>
      <td className="cell-name">
        <button type="button" className="link-button" aria-current={selected ? 'true' : undefined} onClick={() => onSelect(id)}>
          {name}
        </button>
      </td>
      <td>
        <StateBadge state={state} reason={sandbox.stateReason} />
      </td>
      <td>{sandbox.template ?? UNKNOWN}</td>
      <td className="numeric">{sandbox.vcpus ?? UNKNOWN}</td>
      <td className="numeric">{sandbox.memoryMiB === undefined ? UNKNOWN : formatMiB(sandbox.memoryMiB)}</td>
      <td className="numeric">{usage?.cpuPercent == null ? UNKNOWN : formatPercent(usage.cpuPercent)}</td>
      <td className="numeric">{usage?.rssBytes == null ? UNKNOWN : formatBytes(usage.rssBytes)}</td>
      <td className="cell-actions">
        {quickActionsFor(state).map((action) => (
          <button key={action} type="button" className="small" aria-label={`${ACTION_LABELS[action]} ${name}`} disabled={busy} onClick={() => onAction(id, action)}>
            {ACTION_LABELS[action]}
          </button>
        ))}
        <button type="button" className="small danger" aria-label={`Delete ${name}`} disabled={busy} onClick={() => onDelete(id)}>
          Delete
        </button>
      </td>
    </tr>
  );
});

import type { SandboxState } from '../../../shared/api/sandbox-schemas';

export function StateBadge({ state, reason }: { state: SandboxState; reason?: string | null }) {
  return (
    <span className={`badge state-${state}`} title={reason ?? undefined}>
      {state}
    </span>
  );
}

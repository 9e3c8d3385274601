import { useStore } from 'zustand';
import { useAppServices } from '../app/app-services';
import { SandboxDetail } from './sandbox-detail';

/** The selected sandbox, or a hint to select one. */
export function DetailPane() {
  const { stores } = useAppServices();
  const sandbox = useStore(stores.sandboxes, (state) => (state.selectedId ? state.sandboxes[state.selectedId] : undefined));
  if (!sandbox) {
    return (
      <section className="detail-pane detail-empty" aria-label="Sandbox detail">
        <p>Select a sandbox to open its terminal, files, snapshots and console.</p>
      </section>
    );
  }
  // A new key per sandbox: terminals, listings and consoles never leak from one to the next.
  return <SandboxDetail key={sandbox.id} sandbox={sandbox} />;
}

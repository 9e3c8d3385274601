import { buildUi, uiBuildIsCurrent } from '../../src/main/cli/ui-build.js';

/** Builds the renderer for browser mode unless out/renderer is already current. */
export async function ensureUiBuilt(): Promise<void> {
  if (!(await uiBuildIsCurrent())) await buildUi();
}

/**
 * The app's addresses in browser mode: `/sandboxes/<id>/<tab>` opens a sandbox on one of
 * its tabs. The daemon hands these out (display links) and the renderer opens them, so
 * both build and read them here.
 */
export const DETAIL_TABS = ['terminal', 'files', 'snapshots', 'console', 'display', 'ports'] as const;
export type DetailTab = (typeof DETAIL_TABS)[number];

export function sandboxPagePath(sandboxId: string, tab: DetailTab): string {
  return `/sandboxes/${encodeURIComponent(sandboxId)}/${tab}`;
}

/** The sandbox and tab a page path names, or null for any other path. */
export function parseSandboxPagePath(path: string): { sandboxId: string; tab: DetailTab } | null {
  const match = /^\/sandboxes\/([^/]+)\/([a-z]+)\/?$/.exec(path);
  if (!match) return null;
  const tab = DETAIL_TABS.find((t) => t === match[2]);
  if (!tab) return null;
  try {
    return { sandboxId: decodeURIComponent(match[1]!), tab };
  } catch {
    return null;
  }
}

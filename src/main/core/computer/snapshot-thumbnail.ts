import { randomBytes } from 'node:crypto';
import type { AgentClient } from '../agent/agent-client.js';
import { captureScreen, runInDisplay, sandboxDisplay, type ComputerSandboxes, type DisplayTarget, type SandboxDisplay } from './computer-service.js';
import { pngDataUrl, pngSize } from './png-info.js';

/** Thumbnails are about this wide (the snapshot timeline shows them small). */
export const THUMBNAIL_WIDTH = 320;
const THUMBNAIL_TIMEOUT_MS = 5_000;

/**
 * A small PNG of the sandbox's screen for its snapshot record, as a data: URL (what the
 * timeline's <img> shows), or null when the sandbox has no display, is not running, or the
 * capture fails: a snapshot never fails over its thumbnail. Call it before the VM pauses
 * for the capture; it takes a few hundred ms in the guest.
 */
export async function snapshotThumbnail(sandboxes: ComputerSandboxes, idOrName: string): Promise<string | null> {
  let display: SandboxDisplay;
  try {
    display = sandboxDisplay(sandboxes, idOrName);
  } catch {
    return null;
  }
  try {
    const agent = await sandboxes.agent(display.sandboxId);
    return await captureThumbnail(agent, display);
  } catch {
    return null;
  }
}

/**
 * Scaled in the guest by scrot's own thumbnail option (`--thumb PERCENT` writes
 * NAME-thumb.png beside the full shot); when that yields nothing usable, the full
 * screenshot is kept instead. Either way the result is a PNG data: URL.
 */
export async function captureThumbnail(agent: AgentClient, display: DisplayTarget & { width: number }): Promise<string> {
  const signal = AbortSignal.timeout(THUMBNAIL_TIMEOUT_MS);
  const dir = `/tmp/.microvm-thumbnail-${randomBytes(6).toString('hex')}`;
  const percent = Math.max(1, Math.min(100, Math.round((THUMBNAIL_WIDTH / display.width) * 100)));
  // Made by the agent (root); the X server's user must be able to write the shot into it.
  await agent.mkdir(dir, { mode: display.user ? 0o777 : 0o700, signal });
  try {
    const run = await runInDisplay(agent, display, ['scrot', '--overwrite', '--thumb', String(percent), `${dir}/screen.png`], THUMBNAIL_TIMEOUT_MS, 64 * 1024);
    if (run.exitCode === 0) {
      const thumb = await agent.readFileBuffer(`${dir}/screen-thumb.png`, { signal }).catch(() => null);
      if (thumb && pngSize(thumb)) return pngDataUrl(thumb);
    }
  } finally {
    await agent.remove(dir, { recursive: true }).catch(() => undefined);
  }
  return pngDataUrl((await captureScreen(agent, display)).png);
}

import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';

export interface ElectronAvailability {
  usable: boolean;
  reason: string;
  binary?: string;
}

/**
 * Whether the desktop shell can start here. The electron package resolves to its
 * binary's path, which is only there when its download succeeded, and a window needs a
 * display server.
 */
export function electronAvailability(env: NodeJS.ProcessEnv = process.env): ElectronAvailability {
  let binary: string;
  try {
    binary = createRequire(import.meta.url)('electron') as string;
  } catch (error) {
    return { usable: false, reason: `the Electron binary is not installed (${(error as Error).message.split('\n')[0]})` };
  }
  if (!existsSync(binary)) return { usable: false, reason: `the Electron binary is missing at ${binary}` };
  if (!env.DISPLAY && !env.WAYLAND_DISPLAY) return { usable: false, reason: 'there is no display (DISPLAY and WAYLAND_DISPLAY are unset)' };
  return { usable: true, reason: 'Electron and a display are available', binary };
}

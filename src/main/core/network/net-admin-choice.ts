import { access } from 'node:fs/promises';
import { constants } from 'node:fs';
import { NET_HELPER_PATH, netAdmin, type NetAdmin } from './net-admin.js';

/**
 * The privileged network operations this daemon may use: in-process when it runs as
 * root, through pkexec when the helper is installed; otherwise none, and `nat`
 * sandboxes use QEMU user mode.
 */
export async function availableNetAdmin(): Promise<NetAdmin | null> {
  if (process.getuid?.() === 0) return netAdmin();
  const installed = await access(`${NET_HELPER_PATH}-tap-create`, constants.X_OK).then(
    () => true,
    () => false,
  );
  return installed ? netAdmin() : null;
}

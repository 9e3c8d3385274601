import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultAppConfig, type AppConfig } from '../../src/main/core/config/app-config.js';
import { hypervisorDrivers } from '../../src/main/core/hypervisor/hypervisor-drivers.js';
import { SandboxManager } from '../../src/main/core/sandbox/sandbox-manager.js';
import { SandboxStore } from '../../src/main/core/store/sandbox-store.js';

export interface Harness {
  dir: string;
  store: SandboxStore;
  manager: SandboxManager;
  runRoot: string;
}

/** A manager over its own store and runtime directory, with QEMU chosen as the hypervisor. */
export async function openHarness(dir?: string, config: AppConfig = { ...defaultAppConfig(), hypervisor: 'qemu', defaults: { template: 'minimal' } }): Promise<Harness> {
  const base = dir ?? (await mkdtemp(join(tmpdir(), 'microvm-manager-')));
  const store = SandboxStore.open(join(base, 'microvm.db'));
  const runRoot = join(base, 'vms');
  const manager = await SandboxManager.open({
    store,
    config,
    drivers: hypervisorDrivers(config),
    runRoot,
    snapshotRoot: join(base, 'snapshots'),
    sandboxRoot: join(base, 'sandboxes'),
  });
  return { dir: base, store, manager, runRoot };
}

/** Destroys what the harness's manager still has, closes its store and removes its directory. */
export async function closeHarness(h: Harness): Promise<void> {
  for (const record of h.manager.list()) await h.manager.destroy(record.id).catch(() => undefined);
  h.store.close();
  await rm(h.dir, { recursive: true, force: true });
}

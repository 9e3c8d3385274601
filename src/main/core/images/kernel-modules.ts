import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { SandboxError } from '../errors/sandbox-error.js';

/**
 * Resolves the modules the guest needs, with their dependencies, in load order. The
 * kernel package ships no modules.dep (depmod runs at install time), so dependencies are
 * read from each module's own `.modinfo` section ("depends=a,b"). The agent loads the
 * result with finit_module(2) in exactly this order, so the guest needs no modprobe.
 * Returned paths are relative to `modulesDir`.
 */
export async function resolveModuleLoadOrder(modulesDir: string, wanted: readonly string[]): Promise<string[]> {
  const byName = new Map<string, string>();
  for (const path of await listModules(modulesDir, '')) byName.set(moduleName(path), path);

  const order: string[] = [];
  const seen = new Set<string>();
  const visit = async (name: string, wantedBy: string | null): Promise<void> => {
    if (seen.has(name)) return;
    seen.add(name);
    const path = byName.get(name);
    if (!path) {
      const why = wantedBy ? ` (needed by ${wantedBy})` : '';
      throw new SandboxError('build_failed', `Kernel module ${name}${why} is not in the kernel package`);
    }
    for (const dep of await moduleDepends(join(modulesDir, path))) await visit(dep, name);
    order.push(path);
  };
  for (const name of wanted) await visit(normalise(name), null);
  return order;
}

async function listModules(root: string, rel: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(join(root, rel), { withFileTypes: true })) {
    const path = rel ? `${rel}/${entry.name}` : entry.name;
    if (entry.isDirectory()) out.push(...(await listModules(root, path)));
    else if (entry.name.endsWith('.ko')) out.push(path);
  }
  return out;
}

async function moduleDepends(file: string): Promise<string[]> {
  const bytes = await readFile(file);
  const marker = Buffer.from('\0depends=');
  const at = bytes.indexOf(marker);
  if (at < 0) return [];
  const start = at + marker.length;
  const end = bytes.indexOf(0, start);
  const list = bytes.subarray(start, end).toString('latin1');
  return list ? list.split(',').map(normalise) : [];
}

function moduleName(path: string): string {
  return normalise(path.slice(path.lastIndexOf('/') + 1).replace(/\.ko$/, ''));
}

function normalise(name: string): string {
  return name.replace(/-/g, '_');
}

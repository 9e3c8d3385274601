import type { Command } from 'commander';
import { MicrovmError, Sandbox, type Snapshot, type SnapshotTree } from '../../../sdk/index.js';
import { daemonClient } from '../daemon-autostart.js';
import { positiveInteger } from '../option-parsers.js';
import { formatAge, formatBytes, printJson, printTable } from '../table-output.js';

interface JsonOption {
  json?: boolean;
}

async function connect(id: string): Promise<Sandbox> {
  await daemonClient();
  return Sandbox.connect(id);
}

/** A snapshot of the sandbox by id or by name. */
async function findSnapshot(sandbox: Sandbox, ref: string): Promise<Snapshot> {
  const { snapshots } = await sandbox.snapshots.tree();
  const found = snapshots.find((s) => s.id === ref) ?? snapshots.find((s) => s.name === ref);
  if (!found) throw new MicrovmError('not_found', `sandbox "${sandbox.name}" has no snapshot with id or name "${ref}"`);
  return found;
}

/** The tree drawn depth-first, children under their parent, the current position starred. */
function treeRows(tree: SnapshotTree): string[][] {
  const ids = new Set(tree.snapshots.map((s) => s.id));
  const children = (parent: string | null) => tree.snapshots.filter((s) => (parent === null ? s.parentId === null || !ids.has(s.parentId) : s.parentId === parent));
  const rows: string[][] = [];
  const visit = (snapshot: Snapshot, depth: number) => {
    rows.push([
      `${'  '.repeat(depth)}${snapshot.current ? '* ' : ''}${snapshot.name}`,
      formatAge(snapshot.createdAt),
      formatBytes(snapshot.stateBytes + snapshot.diskBytes),
      `${Math.round(snapshot.pauseMs)} ms`,
      snapshot.id,
    ]);
    for (const child of children(snapshot.id)) visit(child, depth + 1);
  };
  for (const root of children(null)) visit(root, 0);
  return rows;
}

/** `microvm snapshot create|ls|restore|rm|fork`: the snapshot tree from the command line. */
export function registerSnapshotCommands(program: Command): void {
  const snapshot = program.command('snapshot').description("take, list, restore, fork and delete a sandbox's snapshots (docs/snapshots.md)");

  snapshot
    .command('create')
    .description('snapshot a running or paused sandbox; prints the snapshot name')
    .argument('<id>', 'sandbox id or name')
    .option('--name <name>', 'unique per sandbox; snap-N when omitted')
    .option('--description <text>', 'a note kept with the snapshot')
    .option('--json', 'print the result as JSON')
    .action(async (id: string, options: JsonOption & { name?: string; description?: string }) => {
      const sandbox = await connect(id);
      const taken = await sandbox.snapshots.create({
        ...(options.name !== undefined ? { name: options.name } : {}),
        ...(options.description !== undefined ? { description: options.description } : {}),
      });
      if (options.json) return printJson(taken);
      process.stdout.write(`${taken.snapshot.name}\n`);
      process.stderr.write(`paused ${Math.round(taken.snapshot.pauseMs)} ms, ${formatBytes(taken.snapshot.stateBytes)}\n`);
      if (taken.deleted.length > 0) process.stderr.write(`retention deleted ${taken.deleted.length} older snapshot(s)\n`);
      if (taken.retentionNote) process.stderr.write(`note: ${taken.retentionNote}\n`);
    });

  snapshot
    .command('ls')
    .alias('list')
    .description("a sandbox's snapshot tree; * marks where the sandbox is")
    .argument('<id>', 'sandbox id or name')
    .option('--json', 'print the tree as JSON')
    .action(async (id: string, options: JsonOption) => {
      const tree = await (await connect(id)).snapshots.tree();
      if (options.json) printJson(tree);
      else printTable(['NAME', 'CREATED', 'SIZE', 'PAUSE', 'ID'], treeRows(tree));
    });

  snapshot
    .command('restore')
    .description('backtrack a sandbox to one of its snapshots (files, processes, memory); prints the sandbox name')
    .argument('<id>', 'sandbox id or name')
    .argument('<snapshot>', 'snapshot id or name')
    .option('--json', 'print the sandbox as JSON')
    .action(async (id: string, ref: string, options: JsonOption) => {
      const sandbox = await connect(id);
      const info = await sandbox.snapshots.restore(await findSnapshot(sandbox, ref));
      if (options.json) printJson(info);
      else process.stdout.write(`${info.name}\n`);
    });

  snapshot
    .command('fork')
    .description('new sandboxes from a snapshot, beside the original; prints their names')
    .argument('<id>', 'sandbox id or name')
    .argument('<snapshot>', 'snapshot id or name')
    .option('-n, --count <n>', 'how many (generated names)', positiveInteger)
    .option('--name <name...>', 'names of the new sandboxes, one each')
    .option('--json', 'print the new sandboxes as JSON')
    .action(async (id: string, ref: string, options: JsonOption & { count?: number; name?: string[] }) => {
      const sandbox = await connect(id);
      const forks = await sandbox.snapshots.fork(await findSnapshot(sandbox, ref), options.name ? { names: options.name } : { count: options.count ?? 1 });
      if (options.json) printJson(forks);
      else for (const fork of forks) process.stdout.write(`${fork.name}\n`);
    });

  snapshot
    .command('rm')
    .alias('remove')
    .description('delete a snapshot; its children stay restorable')
    .argument('<id>', 'sandbox id or name')
    .argument('<snapshot...>', 'snapshot ids or names')
    .action(async (id: string, refs: string[]) => {
      const sandbox = await connect(id);
      for (const ref of refs) {
        const found = await findSnapshot(sandbox, ref);
        await sandbox.snapshots.delete(found);
        process.stdout.write(`${found.name}\n`);
      }
    });
}

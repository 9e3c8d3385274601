import { openHarness } from './sandbox-harness.js';

// A daemon stand-in for the crash test: creates a sandbox, says so, then snapshots it
// (announcing the start) so the test can kill -9 it while the capture runs.
const [dir] = process.argv.slice(2);
if (!dir) throw new Error('usage: snapshot-process DIR');
const { manager } = await openHarness(dir);
const record = await manager.create({ name: 'interrupted', memoryMiB: 256 });
process.stdout.write(`snapshotting ${record.id}\n`);
await manager.snapshot('interrupted');
process.stdout.write('snapshot done\n');

import { openHarness } from './sandbox-harness.js';

// A daemon stand-in for the crash-recovery test: opens a manager on the given directory,
// creates sandboxes, and reports each step on stdout, so the test can kill -9 it midway.
const [dir, ...names] = process.argv.slice(2);
if (!dir) throw new Error('usage: manager-process DIR NAME...');
const { manager } = await openHarness(dir);
manager.on('event', (event: { type: string; name: string; state?: string }) => {
  if (event.type === 'state') process.stdout.write(`${event.name} ${event.state}\n`);
});
await Promise.allSettled(names.map((name) => manager.create({ name, hypervisor: 'qemu' })));
process.stdout.write('all done\n');

// Run by store-crash.test.ts as a separate process, which the test SIGKILLs mid-loop.
// A line is printed only after its transaction has committed, so every id the parent
// has read must be in the database after the kill.
import { SandboxStore } from '../../../src/main/core/store/sandbox-store.js';

const [dbPath, prefix] = process.argv.slice(2);
if (!dbPath || !prefix) throw new Error('usage: store-writer-child.ts DB_PATH ID_PREFIX');

const store = SandboxStore.open(dbPath);
// A long reason makes each commit span several pages, so the kill often lands mid-write.
const reason = 'serial output line\n'.repeat(400);
for (let i = 0; ; i++) {
  const id = `${prefix}-${i}`;
  store.insert({ id, name: id, template: 'minimal', hypervisor: 'qemu', vcpus: 1, memoryMiB: 256, labels: { i: String(i) } });
  store.transition(id, { from: ['creating'], to: 'crashed', reason });
  process.stdout.write(`${id}\n`);
}

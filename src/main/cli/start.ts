import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { buildMinimalImage } from '../core/images/minimal-image-builder.js';
import { QemuMicrovm } from '../core/hypervisor/qemu-microvm-launcher.js';
import { exitWithError } from './cli-failure.js';
import { electronAvailability } from './electron-availability.js';
import { progressPrinter } from './progress-printer.js';
import { attachTerminal } from './terminal-session.js';

/**
 * `npm start`. On a desktop with Electron it opens the desktop shell. Elsewhere it says
 * why not and, until browser mode exists, boots a minimal sandbox and opens a shell in it
 * (or, without a terminal, prints what the sandbox reports and stops it).
 */
async function main(): Promise<void> {
  const electron = electronAvailability();
  if (electron.usable) {
    await execa('npx', ['electron-vite', 'preview'], { stdio: 'inherit' });
    return;
  }
  process.stderr.write(`The desktop app cannot start here: ${electron.reason}.\n`);
  process.stderr.write('Booting a minimal sandbox instead.\n');

  const image = await buildMinimalImage({ onProgress: progressPrinter() });
  const vm = await QemuMicrovm.launch({ image, workDir: await mkdtemp(join(tmpdir(), 'microvm-start-')) });
  const stop = () => void vm.stop().then(() => process.exit(0));
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  try {
    const info = await vm.agent.info();
    process.stderr.write(
      `Sandbox ready in ${(vm.launchToReadyMs / 1000).toFixed(1)} s (${vm.accel}): ${info.kernel}, agent ${info.agentVersion}\n`,
    );
    if (process.stdin.isTTY && process.stdout.isTTY) {
      process.stderr.write('Shell inside the sandbox; exit it to stop the sandbox.\n');
      await attachTerminal(vm.agent, ['/bin/sh', '-l']);
    } else {
      const r = await vm.agent.run({ argv: ['uname', '-a'] });
      process.stdout.write(r.stdout);
    }
  } finally {
    await vm.stop();
  }
}

main().catch(exitWithError);

import { MicrovmClient, MicrovmError } from '../../sdk/index.js';
import { loadAppConfig } from '../core/config/app-config.js';
import { chooseHypervisor } from '../core/hypervisor/hypervisor-choice.js';
import { buildMinimalImage } from '../core/images/minimal-image-builder.js';
import { progressPrinter } from './progress-printer.js';
import { printJson } from './table-output.js';

interface DaemonStatus {
  target: string;
  running: boolean;
  version?: string;
}

/** Asks without starting one: doctor reports the machine as it is. */
async function daemonStatus(): Promise<DaemonStatus> {
  const client = new MicrovmClient();
  try {
    return { target: client.target, running: true, version: (await client.version()).version };
  } catch (error) {
    if (error instanceof MicrovmError && error.code === 'daemon_unreachable') return { target: client.target, running: false };
    throw error;
  }
}

/** `microvm doctor`: which hypervisor `auto` picks here, why, what is missing, and whether a daemon answers. */
export async function runDoctor(options: { json?: boolean } = {}): Promise<void> {
  const config = loadAppConfig();
  const image = await buildMinimalImage({ onProgress: progressPrinter() });
  const report = await chooseHypervisor(config.hypervisor, config, image.kernel);
  const daemon = await daemonStatus();
  if (options.json) {
    printJson({ configured: config.hypervisor, ...report, daemon });
    return;
  }
  process.stdout.write(`hypervisor: ${report.chosen} (${report.reason})\n`);
  for (const check of report.checks) process.stdout.write(`  ${check.ok ? 'ok     ' : 'missing'} ${check.name}: ${check.detail}\n`);
  process.stdout.write(
    daemon.running
      ? `daemon: running on ${daemon.target} (version ${daemon.version})\n`
      : `daemon: not running on ${daemon.target} (commands start it when needed, or run \`microvm serve\`)\n`,
  );
}

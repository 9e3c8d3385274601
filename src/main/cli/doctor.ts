import { loadAppConfig } from '../core/config/app-config.js';
import { exitWithError } from './cli-failure.js';
import { chooseHypervisor } from '../core/hypervisor/hypervisor-choice.js';
import { buildMinimalImage } from '../core/images/minimal-image-builder.js';
import { progressPrinter } from './progress-printer.js';

/** `npm run doctor [-- --json]`: which hypervisor `auto` picks here, why, and what is missing. */
try {
  const config = loadAppConfig();
  const image = await buildMinimalImage({ onProgress: progressPrinter() });
  const report = await chooseHypervisor(config.hypervisor, config, image.kernel);
  if (process.argv.includes('--json')) {
    process.stdout.write(`${JSON.stringify({ configured: config.hypervisor, ...report }, null, 2)}\n`);
  } else {
    process.stdout.write(`hypervisor: ${report.chosen} (${report.reason})\n`);
    for (const check of report.checks) process.stdout.write(`  ${check.ok ? 'ok     ' : 'missing'} ${check.name}: ${check.detail}\n`);
  }
} catch (error) {
  exitWithError(error);
}

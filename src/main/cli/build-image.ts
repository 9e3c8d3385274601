import { buildMinimalImage } from '../core/images/minimal-image-builder.js';
import { exitWithError } from './cli-failure.js';
import { progressPrinter } from './progress-printer.js';

try {
  const image = await buildMinimalImage({ onProgress: progressPrinter() });
  process.stdout.write(`${JSON.stringify({ key: image.key, kernel: image.kernel, initrd: image.initrd, cached: image.cached })}\n`);
} catch (error) {
  exitWithError(error);
}

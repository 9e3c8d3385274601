import { buildMinimalImage } from '../core/images/minimal-image-builder.js';
import { SandboxError } from '../core/errors/sandbox-error.js';
import { progressPrinter } from './progress-printer.js';

try {
  const image = await buildMinimalImage({ onProgress: progressPrinter() });
  process.stdout.write(`${JSON.stringify({ key: image.key, kernel: image.kernel, initrd: image.initrd, cached: image.cached })}\n`);
} catch (error) {
  const code = error instanceof SandboxError ? error.code : 'internal';
  process.stderr.write(`error [${code}]: ${(error as Error).message}\n`);
  process.exit(1);
}

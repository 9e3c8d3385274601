import { buildMinimalImage } from '../core/images/minimal-image-builder.js';
import { TemplateCatalog } from '../core/images/template-catalog.js';
import { exitWithError } from './cli-failure.js';
import { progressPrinter } from './progress-printer.js';

/**
 * Builds a template's image without a daemon (the test command and CI use it):
 * `build-image.ts` builds the minimal image, `build-image.ts <template>` any template.
 * Prints the image as one JSON line on stdout; progress goes to stderr.
 */
try {
  const name = process.argv[2];
  const started = Date.now();
  const image =
    name === undefined ? await buildMinimalImage({ onProgress: progressPrinter() }) : await new TemplateCatalog().image(name, progressPrinter(), { recheck: true });
  process.stdout.write(
    `${JSON.stringify({
      template: name ?? 'minimal',
      key: image.key,
      kernel: image.kernel,
      initrd: image.initrd,
      ...(image.rootfs ? { rootfs: image.rootfs, rootfsBytes: image.rootfsBytes } : {}),
      cached: image.cached,
      seconds: Math.round((Date.now() - started) / 100) / 10,
    })}\n`,
  );
} catch (error) {
  exitWithError(error);
}

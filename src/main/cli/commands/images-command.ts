import type { Command } from 'commander';
import { daemonClient } from '../daemon-autostart.js';
import { progressPrinter } from '../progress-printer.js';
import { formatBytes, printJson, printTable } from '../table-output.js';
import { UsageError } from '../cli-failure.js';

/** `microvm images ls|build`: the templates and their built images, through the daemon. */
export function registerImagesCommand(program: Command): void {
  const images = program.command('images').description('templates and their guest images');

  images
    .command('ls')
    .alias('list')
    .description('list templates and whether their images are built')
    .option('--json', 'print the templates as a JSON array')
    .action(async (options: { json?: boolean }) => {
      const templates = await (await daemonClient()).templates();
      if (options.json) {
        printJson(templates);
        return;
      }
      printTable(
        ['NAME', 'KIND', 'BUILT', 'DEFAULT', 'SIZE', 'VCPUS', 'MEMORY', 'DISK', 'DISPLAY', 'DESCRIPTION'],
        templates.map((t) => [
          t.source === 'user' ? `${t.name} (user)` : t.name,
          t.kind,
          t.built ? 'yes' : 'no',
          t.default ? 'yes' : '',
          t.sizeBytes === null ? '-' : formatBytes(t.sizeBytes),
          String(t.defaults.vcpus),
          `${t.defaults.memoryMiB} MiB`,
          t.defaults.diskMiB === null ? '-' : `${t.defaults.diskMiB} MiB`,
          t.display ? `${t.display.width}x${t.display.height}` : '-',
          t.description,
        ]),
      );
    });

  images
    .command('build')
    .description("build a template's image (or confirm it is up to date), showing progress")
    .argument('[name]', 'template name; the default template when omitted')
    .option('--json', 'print the built template as JSON')
    .action(async (name: string | undefined, options: { json?: boolean }) => {
      const client = await daemonClient();
      const templates = name === undefined ? await client.templates() : [];
      const chosen = name ?? templates.find((t) => t.default)?.name;
      if (!chosen) throw new UsageError('no default template is configured; name one (see `microvm images ls`)');
      const template = await client.buildTemplate(chosen, progressPrinter());
      if (options.json) printJson(template);
      else process.stdout.write(`${template.name}: built${template.sizeBytes === null ? '' : ` (${formatBytes(template.sizeBytes)})`}\n`);
    });
}

import { Option, type Command } from 'commander';
import { Sandbox, type SandboxInfo } from '../../../sdk/index.js';
import { errorCodeInfo } from '../../../shared/error-codes.js';
import { errorCode } from '../cli-failure.js';
import { daemonClient } from '../daemon-autostart.js';
import { keyValue, memoryMiB, nonNegativeInteger, positiveInteger, repeated } from '../option-parsers.js';
import { formatAge, printFields, printJson, printTable } from '../table-output.js';

interface JsonOption {
  json?: boolean;
}

function printSandbox(info: SandboxInfo, json?: boolean): void {
  if (json) printJson(info);
  else process.stdout.write(`${info.name}\n`);
}

function labelsText(labels: Record<string, string>): string {
  return Object.entries(labels)
    .map(([key, value]) => `${key}=${value}`)
    .join(',');
}

/** A sandbox by id or name, after making sure a daemon answers. */
async function connect(id: string): Promise<Sandbox> {
  await daemonClient();
  return Sandbox.connect(id);
}

/** create, ls, inspect, the lifecycle verbs and rm: the sandbox's life from the command line. */
export function registerSandboxCommands(program: Command): void {
  program
    .command('create')
    .description('create a sandbox and wait until it is ready; prints its name')
    .option('--name <name>', 'unique name, also the guest hostname (DNS label); generated when omitted')
    .option('--template <name>', 'template to boot (see `microvm images ls`); the default one when omitted')
    .option('--cpus <n>', 'virtual CPUs', positiveInteger)
    .option('--memory <MiB>', 'memory in MiB (or with an M/G suffix)', memoryMiB)
    .option('--disk <MiB>', "disk size in MiB (or with an M/G suffix), for templates with a disk; at least the image's size", memoryMiB)
    .option('--label <key=value>', 'a label; repeat for more', keyValue)
    .addOption(new Option('--hypervisor <kind>', 'hypervisor for this sandbox').choices(['auto', 'qemu', 'cloud-hypervisor']))
    .addOption(new Option('--network <mode>', 'none: no NIC (the default); nat: outbound access from a private address').choices(['none', 'nat']))
    .option('--allow <cidr>', 'with --network nat: a destination the sandbox may reach (then only these); repeat for more', repeated)
    .option('--deny <cidr>', 'with --network nat: a destination the sandbox may not reach; repeat for more', repeated)
    .option('--json', 'print the sandbox as JSON')
    .action(
      async (
        options: JsonOption & {
          name?: string;
          template?: string;
          cpus?: number;
          memory?: number;
          disk?: number;
          label?: Record<string, string>;
          hypervisor?: 'auto' | 'qemu' | 'cloud-hypervisor';
          network?: 'none' | 'nat';
          allow?: string[];
          deny?: string[];
        },
      ) => {
        await daemonClient();
        const sandbox = await Sandbox.create({
          ...(options.name !== undefined ? { name: options.name } : {}),
          ...(options.template !== undefined ? { template: options.template } : {}),
          ...(options.cpus !== undefined ? { cpus: options.cpus } : {}),
          ...(options.memory !== undefined ? { memoryMiB: options.memory } : {}),
          ...(options.disk !== undefined ? { diskMiB: options.disk } : {}),
          ...(options.label ? { labels: options.label } : {}),
          ...(options.hypervisor ? { hypervisor: options.hypervisor } : {}),
          ...(options.network ? { network: options.network } : {}),
          ...(options.allow || options.deny ? { egress: { allow: options.allow ?? [], deny: options.deny ?? [] } } : {}),
        });
        printSandbox(sandbox.info, options.json);
      },
    );

  program
    .command('ls')
    .alias('list')
    .description('list sandboxes')
    .option('-q, --quiet', 'print only names')
    .option('--json', 'print the sandboxes as a JSON array')
    .action(async (options: JsonOption & { quiet?: boolean }) => {
      await daemonClient();
      const sandboxes = await Sandbox.list();
      if (options.json) printJson(sandboxes);
      else if (options.quiet) for (const sandbox of sandboxes) process.stdout.write(`${sandbox.name}\n`);
      else {
        printTable(
          ['NAME', 'STATE', 'TEMPLATE', 'CPUS', 'MEMORY', 'CREATED', 'ID'],
          sandboxes.map((s) => [s.name, s.state, s.template, String(s.vcpus), `${s.memoryMiB} MiB`, formatAge(s.createdAt), s.id]),
        );
      }
    });

  program
    .command('inspect')
    .description('show one sandbox')
    .argument('<id>', 'sandbox id or name')
    .option('--json', 'print the sandbox as JSON')
    .action(async (id: string, options: JsonOption) => {
      const { info } = await connect(id);
      if (options.json) {
        printJson(info);
        return;
      }
      printFields([
        ['name', info.name],
        ['id', info.id],
        ['state', info.stateReason ? `${info.state} (${info.stateReason})` : info.state],
        ['template', info.template],
        ['hypervisor', info.hypervisor],
        ['cpus', String(info.vcpus)],
        ['memory', `${info.memoryMiB} MiB`],
        ['disk', info.diskMiB === undefined ? '-' : `${info.diskMiB} MiB`],
        ['labels', labelsText(info.labels) || '-'],
        ['network', info.network],
        ['egress allow', info.egress.allow.join(', ') || (info.network === 'nat' ? 'everything not denied' : '-')],
        ['egress deny', info.egress.deny.join(', ') || '-'],
        ['created', info.createdAt],
        ['updated', info.updatedAt],
      ]);
    });

  const lifecycle: [verb: 'start' | 'pause' | 'resume' | 'restart', description: string][] = [
    ['start', 'boot a stopped sandbox'],
    ['pause', 'freeze a running sandbox (its memory stays allocated)'],
    ['resume', 'continue a paused sandbox'],
    ['restart', 'stop and start a sandbox'],
  ];
  for (const [verb, description] of lifecycle) {
    program
      .command(verb)
      .description(`${description}; prints its name`)
      .argument('<id>', 'sandbox id or name')
      .option('--json', 'print the sandbox as JSON')
      .action(async (id: string, options: JsonOption) => {
        const sandbox = await connect(id);
        printSandbox(await sandbox[verb](), options.json);
      });
  }

  program
    .command('stop')
    .description('power a sandbox off (it is killed when the guest does not comply in time); prints its name')
    .argument('<id>', 'sandbox id or name')
    .option('--timeout <ms>', 'how long the guest gets to power off', nonNegativeInteger)
    .option('--json', 'print the sandbox as JSON')
    .action(async (id: string, options: JsonOption & { timeout?: number }) => {
      const sandbox = await connect(id);
      printSandbox(await sandbox.stop(options.timeout === undefined ? {} : { timeoutMs: options.timeout }), options.json);
    });

  program
    .command('rm')
    .alias('remove')
    .description('destroy sandboxes, running or not (their disks are deleted); prints each name')
    .argument('<id...>', 'sandbox ids or names')
    .option('-f, --force', 'accepted for habit: removal always stops a running sandbox first')
    .action(async (ids: string[]) => {
      await daemonClient();
      let failure: unknown;
      for (const id of ids) {
        try {
          const sandbox = await Sandbox.connect(id);
          await sandbox.destroy();
          process.stdout.write(`${sandbox.name}\n`);
        } catch (error) {
          failure = error;
          process.stderr.write(`error: ${(error as Error).message}\n`);
        }
      }
      // Every id was tried; the status is that of the last failure.
      if (failure !== undefined) process.exit(errorCodeInfo(errorCode(failure)).exit);
    });
}

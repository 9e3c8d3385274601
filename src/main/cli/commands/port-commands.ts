import { InvalidArgumentError, type Command } from 'commander';
import { Sandbox, type PortForward } from '../../../sdk/index.js';
import { daemonClient } from '../daemon-autostart.js';
import { nonNegativeInteger } from '../option-parsers.js';
import { printJson, printTable } from '../table-output.js';

interface JsonOption {
  json?: boolean;
}

function port(value: string): number {
  if (!/^\d+$/.test(value) || Number(value) < 1 || Number(value) > 65_535) throw new InvalidArgumentError('expected a TCP port (1-65535).');
  return Number(value);
}

function hostPort(value: string): number {
  const parsed = nonNegativeInteger(value);
  if (parsed > 65_535) throw new InvalidArgumentError('expected a TCP port (1-65535), or 0 for any free one.');
  return parsed;
}

async function connect(id: string): Promise<Sandbox> {
  await daemonClient();
  return Sandbox.connect(id);
}

function rows(forwards: PortForward[]): string[][] {
  return forwards.map((forward) => [forward.sandboxName, `${forward.address.includes(':') ? `[${forward.address}]` : forward.address}:${forward.hostPort}`, String(forward.guestPort), forward.url]);
}

/** `microvm port add|ls|rm`: host → guest port forwards through the agent (docs/networking.md). */
export function registerPortCommands(program: Command): void {
  const ports = program.command('port').description('forward host ports to TCP ports inside sandboxes, in any network mode (docs/networking.md)');

  ports
    .command('add')
    .description('forward a host port to GUEST_PORT inside the sandbox; prints the URL')
    .argument('<id>', 'sandbox id or name')
    .argument('<guest-port>', 'the TCP port inside the guest (its 127.0.0.1)', port)
    .option('--host-port <n>', 'the host port to listen on; a free one when omitted (or 0)', hostPort)
    .option('--address <ip>', 'the host address to listen on (default 127.0.0.1)')
    .option('--allow-remote', 'allow an --address that is not loopback: anyone who reaches it reaches the guest port')
    .option('--json', 'print the forward as JSON')
    .action(async (id: string, guestPort: number, options: JsonOption & { hostPort?: number; address?: string; allowRemote?: boolean }) => {
      const forward = await (await connect(id)).ports.add(guestPort, {
        ...(options.hostPort !== undefined ? { hostPort: options.hostPort } : {}),
        ...(options.address !== undefined ? { address: options.address } : {}),
        ...(options.allowRemote ? { allowRemote: true } : {}),
      });
      if (options.json) printJson(forward);
      else process.stdout.write(`${forward.url}\n`);
    });

  ports
    .command('ls')
    .alias('list')
    .description("a sandbox's port forwards, or every sandbox's")
    .argument('[id]', 'sandbox id or name')
    .option('--json', 'print the forwards as JSON')
    .action(async (id: string | undefined, options: JsonOption) => {
      const forwards = id === undefined ? await (await daemonClient()).ports() : await (await connect(id)).ports.list();
      if (options.json) printJson(forwards);
      else printTable(['SANDBOX', 'HOST', 'GUEST PORT', 'URL'], rows(forwards));
    });

  ports
    .command('rm')
    .alias('remove')
    .description('close the forward on a host port and its open connections')
    .argument('<id>', 'sandbox id or name')
    .argument('<host-port...>', 'host ports of the forwards', (value: string, previous: number[] = []) => [...previous, port(value)])
    .action(async (id: string, hostPorts: number[]) => {
      const sandbox = await connect(id);
      for (const hostPort of hostPorts) {
        await sandbox.ports.remove(hostPort);
        process.stdout.write(`${hostPort}\n`);
      }
    });
}

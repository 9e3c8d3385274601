/**
 * A stand-in for the `cloud-hypervisor` binary, for hosts without KVM: the same command
 * line (only what the driver uses), the REST API on the API socket with CH's wire
 * behaviour (micro-http.ts, standin-vmm.ts), a hybrid vsock socket that leads to the real
 * guest agent run on the host (hybrid-vsock.ts, standin-guest.ts), and CH's process
 * lifecycle: exit 0 when the guest powers off, on vmm.shutdown and on SIGTERM/SIGINT.
 *
 * Environment: MICROVM_STANDIN_AGENT (required) is the guest agent binary;
 * MICROVM_STANDIN_VERSION poses as another CH release in vmm.ping;
 * MICROVM_STANDIN_SCRATCH is where the agent's private socket goes (default: tmpdir).
 */
import { rm } from 'node:fs/promises';
import { serveMicroHttp } from './micro-http.js';
import { StandinVmm } from './standin-vmm.js';

function fail(...chain: string[]): never {
  // CH's cli_print_error_chain format.
  process.stderr.write(`Error: Cloud Hypervisor exited with the following chain of errors:\n${chain.map((e, i) => `  ${i}: ${e}\n`).join('')}`);
  process.exit(1);
}

function apiSocketPath(args: string[]): string {
  let path: string | null = null;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === '--api-socket' && i + 1 < args.length) {
      const value = args[++i]!;
      // `path=P` or a bare path; `fd=N` is not something the driver uses.
      path = value.startsWith('path=') ? value.slice('path='.length) : value.includes('=') ? fail('Error parsing --api-socket', `unsupported value ${value}`) : value;
    } else {
      fail(`error: unexpected argument '${arg}' found (the stand-in accepts only --api-socket)`);
    }
  }
  return path ?? fail('error: the stand-in needs --api-socket');
}

const apiSocket = apiSocketPath(process.argv.slice(2));
const agentBinary = process.env.MICROVM_STANDIN_AGENT ?? fail('MICROVM_STANDIN_AGENT is not set: the stand-in needs the guest agent binary');

let exiting = false;
const exit = (code: number) => {
  if (exiting) return;
  exiting = true;
  void rm(apiSocket, { force: true }).finally(() => process.exit(code));
};
const vmm = new StandinVmm({ agentBinary, version: process.env.MICROVM_STANDIN_VERSION ?? '53.0.0', exit });
const server = serveMicroHttp((request) => vmm.handle(request));

// Like CH up to v52: bind() fails on an existing path, and the failed start leaves it alone.
server.once('error', (error: NodeJS.ErrnoException) => {
  const reason = error.code === 'EADDRINUSE' ? 'Address already in use (os error 98)' : error.message;
  fail('Failed to start the VMM thread', "Error creation API server's socket", reason);
});
server.listen(apiSocket);

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.on(signal, () => void vmm.terminate().then(() => exit(0)));
}

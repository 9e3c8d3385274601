import { randomBytes } from 'node:crypto';
import type { AgentClient } from '../agent/agent-client.js';
import { SandboxError } from '../errors/sandbox-error.js';

/**
 * Makes a guest restored from someone else's saved state its own: a new hostname, a new
 * machine id, and fresh entropy mixed into the kernel's random pool, so forks and
 * warm-started sandboxes never share identifiers or random streams.
 */
export async function assignGuestIdentity(agent: AgentClient, hostname: string): Promise<void> {
  const steps: [string, Promise<{ exitCode: number | null; stderr: Buffer }>][] = [
    ['set the hostname', agent.run({ argv: ['hostname', hostname] })],
    ['write /etc/machine-id', agent.run({ argv: ['sh', '-c', 'cat > /etc/machine-id'] }, { stdin: `${randomBytes(16).toString('hex')}\n` })],
    ['reseed the random pool', agent.run({ argv: ['sh', '-c', 'cat > /dev/urandom'] }, { stdin: randomBytes(512) })],
  ];
  for (const [what, step] of steps) {
    const result = await step;
    if (result.exitCode !== 0) throw new SandboxError('agent_error', `could not ${what} in the guest: ${result.stderr.toString().trim()}`);
  }
}

import type { AddPortBody, PortForward, PortForwardList } from '../shared/api/port-schemas.js';
import type { MicrovmClient } from './microvm-client.js';

export type PortForwardOptions = Omit<AddPortBody, 'guestPort'>;

/**
 * A sandbox's port forwards, host → guest (docs/networking.md): the daemon listens on a
 * host port (127.0.0.1 unless told otherwise) and joins each connection to the guest port
 * through the agent, so forwards work in every network mode. They last until removed, the
 * sandbox is destroyed or the daemon stops.
 */
export class SandboxPorts {
  constructor(
    private readonly client: MicrovmClient,
    private readonly sandboxId: () => string,
  ) {}

  /**
   * Forwards a host port to `guestPort`; without `hostPort` the system picks a free one,
   * which the answer's `hostPort` and `url` carry. A taken host port fails with `port_in_use`.
   */
  add(guestPort: number, options: PortForwardOptions = {}): Promise<PortForward> {
    return this.client.request<PortForward>('POST', this.route(''), { json: { guestPort, ...options } });
  }

  async list(): Promise<PortForward[]> {
    return (await this.client.request<PortForwardList>('GET', this.route(''))).ports;
  }

  /** Closes the forward on that host port and its open connections; the port is free when this resolves. */
  async remove(forward: number | PortForward): Promise<void> {
    const hostPort = typeof forward === 'number' ? forward : forward.hostPort;
    await this.client.request('DELETE', this.route(`/${hostPort}`));
  }

  private route(suffix: string): string {
    return `/sandboxes/${encodeURIComponent(this.sandboxId())}/ports${suffix}`;
  }
}

import { Type, type Static } from 'typebox';

/**
 * Port forwards, host → guest: the daemon listens on a host address and port and joins
 * every connection to a TCP port inside the guest through the guest agent, so they work
 * in every network mode, `none` included. They live in the daemon's memory: a daemon
 * restart drops them, and destroying the sandbox removes its own.
 */

/** The address a forward listens on when none is given. */
export const DEFAULT_FORWARD_ADDRESS = '127.0.0.1';

const GuestPort = Type.Integer({ minimum: 1, maximum: 65_535, description: 'The TCP port inside the guest (reached on its 127.0.0.1)' });
const HostPort = Type.Integer({ minimum: 1, maximum: 65_535, description: 'The TCP port the daemon listens on' });

export const PortForwardSchema = Type.Object(
  {
    sandboxId: Type.String(),
    sandboxName: Type.String(),
    guestPort: GuestPort,
    hostPort: HostPort,
    address: Type.String({ description: 'The host address the forward listens on' }),
    url: Type.String({ description: 'http://address:hostPort, with loopback standing in for a wildcard address (0.0.0.0, ::)' }),
    createdAt: Type.String({ format: 'date-time' }),
  },
  { additionalProperties: false },
);
export type PortForward = Static<typeof PortForwardSchema>;

export const PortForwardListSchema = Type.Object({ ports: Type.Array(PortForwardSchema, { description: 'Ordered by host port' }) });
export type PortForwardList = Static<typeof PortForwardListSchema>;

export const AddPortBodySchema = Type.Object(
  {
    guestPort: GuestPort,
    hostPort: Type.Optional(
      Type.Integer({ minimum: 0, maximum: 65_535, description: 'The host port to listen on; 0 or omitted lets the system pick a free one' }),
    ),
    address: Type.Optional(
      Type.String({ minLength: 1, maxLength: 64, description: `An IPv4 or IPv6 address of this host; ${DEFAULT_FORWARD_ADDRESS} when omitted` }),
    ),
    allowRemote: Type.Optional(
      Type.Boolean({ description: 'Needed for an address that is not loopback (127.0.0.0/8, ::1): anyone who reaches it reaches the guest port' }),
    ),
  },
  { additionalProperties: false },
);
export type AddPortBody = Static<typeof AddPortBodySchema>;

export const PortParamsSchema = Type.Object({
  id: Type.String({ minLength: 1, description: 'Sandbox id or name' }),
  hostPort: HostPort,
});
export type PortParams = Static<typeof PortParamsSchema>;

import { Type, type Static } from 'typebox';

/**
 * The VNC console of a sandbox with a display: POST /sandboxes/{id}/display hands out a
 * short-lived token bound to that sandbox, and the WebSocket at `path` (with the token as
 * `?token=`) then carries the RFB protocol to the guest's VNC server, through the guest
 * agent (no guest networking). The token opens one connection, within `expiresAt`.
 */
export const DisplaySessionSchema = Type.Object(
  {
    sandboxId: Type.String(),
    path: Type.String({ description: 'The WebSocket path, token included, relative to the daemon (e.g. /api/v1/sandboxes/ID/display/ws?token=…)' }),
    url: Type.Union([Type.String(), Type.Null()], {
      description: 'The WebSocket URL (ws://host:port/…) when asked over TCP; null over the Unix socket (connect to `path` there)',
    }),
    token: Type.String({ description: '32 random bytes, base64url; single use' }),
    expiresAt: Type.String({ format: 'date-time', description: 'The token opens no connection after this' }),
    width: Type.Integer({ description: "The guest screen's width in pixels" }),
    height: Type.Integer(),
  },
  { additionalProperties: false },
);
export type DisplaySession = Static<typeof DisplaySessionSchema>;

export const DisplaySocketQuerySchema = Type.Object({
  token: Type.Optional(Type.String({ maxLength: 128, description: 'From POST /sandboxes/{id}/display' })),
});
export type DisplaySocketQuery = Static<typeof DisplaySocketQuerySchema>;

/**
 * A link that opens one sandbox's Display tab in a browser (browser mode) without handing
 * out the daemon's token: single use, for a few minutes. Following it opens a browser
 * session, as the printed `/?token=` link does. Needs the daemon's TCP listener.
 */
export const DisplayLinkSchema = Type.Object(
  {
    sandboxId: Type.String(),
    url: Type.String({ description: 'http://host:port/sandboxes/ID/display?link=…' }),
    expiresAt: Type.String({ format: 'date-time', description: 'The link opens nothing after this, and nothing once used' }),
  },
  { additionalProperties: false },
);
export type DisplayLink = Static<typeof DisplayLinkSchema>;

import { SandboxError } from '../core/errors/sandbox-error.js';

/**
 * The plain-HTTP side of a WebSocket route. Routes are declared with `wsHandler` plus this
 * handler rather than `websocket: true`, which would hide them from the OpenAPI document.
 */
export async function needsUpgrade(): Promise<never> {
  throw new SandboxError('invalid_argument', 'this route speaks WebSocket: send an Upgrade request (the protocol is in docs/api.md)');
}

import { createHash, randomBytes } from 'node:crypto';
import { SandboxError } from '../errors/sandbox-error.js';

/** How long a display token may wait for its WebSocket. */
export const DISPLAY_TOKEN_TTL_MS = 60_000;
/** How long a display link (a browser-mode page of one sandbox's display) may wait to be opened. */
export const DISPLAY_LINK_TTL_MS = 5 * 60_000;
/** Outstanding tokens beyond this push out the oldest (a client asking in a loop cannot grow the map). */
const MAX_OUTSTANDING = 256;

export interface IssuedDisplayToken {
  token: string;
  /** Epoch ms after which the token no longer opens the display. */
  expiresAt: number;
}

export interface DisplayTokenOptions {
  ttlMs?: number;
  now?: () => number;
}

interface Grant {
  sandboxId: string;
  expiresAt: number;
}

/**
 * Short-lived, single-use tokens that open one sandbox's display WebSocket. They are 32
 * random bytes, kept only in this process's memory and only as their SHA-256 (a lookup
 * cannot leak a token by timing, and a memory dump holds no usable token). A token is
 * bound to the sandbox it was issued for, expires after the TTL whether used or not, and
 * is spent by the connection it opens.
 */
export class DisplayTokens {
  private readonly grants = new Map<string, Grant>();
  private readonly ttlMs: number;
  private readonly now: () => number;

  constructor(options: DisplayTokenOptions = {}) {
    this.ttlMs = options.ttlMs ?? DISPLAY_TOKEN_TTL_MS;
    this.now = options.now ?? Date.now;
  }

  issue(sandboxId: string): IssuedDisplayToken {
    this.sweep();
    while (this.grants.size >= MAX_OUTSTANDING) this.grants.delete(this.grants.keys().next().value!);
    const token = randomBytes(32).toString('base64url');
    const expiresAt = this.now() + this.ttlMs;
    this.grants.set(digest(token), { sandboxId, expiresAt });
    return { token, expiresAt };
  }

  /**
   * Refuses a missing, unknown or expired token (unauthorized) and one issued for another
   * sandbox (forbidden); the token stays valid until `spend`.
   */
  check(token: string | undefined, sandboxId: string): void {
    if (token === undefined || token === '') {
      throw new SandboxError('unauthorized', 'the display needs a token: ask POST /sandboxes/{id}/display for one and pass it as ?token=');
    }
    const grant = this.grants.get(digest(token));
    if (!grant) throw new SandboxError('unauthorized', 'the display token is not valid (it may have been used already): ask for a new one');
    if (grant.expiresAt <= this.now()) {
      this.grants.delete(digest(token));
      throw new SandboxError('unauthorized', 'the display token has expired: ask for a new one');
    }
    if (grant.sandboxId !== sandboxId) throw new SandboxError('forbidden', 'this display token was issued for another sandbox');
  }

  /** check(), then the token is used up. */
  spend(token: string | undefined, sandboxId: string): void {
    this.check(token, sandboxId);
    this.grants.delete(digest(token!));
  }

  /** Forgets every token of a sandbox (it was destroyed or stopped). */
  revoke(sandboxId: string): void {
    for (const [key, grant] of this.grants) if (grant.sandboxId === sandboxId) this.grants.delete(key);
  }

  get size(): number {
    this.sweep();
    return this.grants.size;
  }

  private sweep(): void {
    const now = this.now();
    for (const [key, grant] of this.grants) if (grant.expiresAt <= now) this.grants.delete(key);
  }
}

function digest(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

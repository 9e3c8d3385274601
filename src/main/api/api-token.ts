import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

/**
 * The bearer token of the TCP listener, kept in a 0600 file. The daemon re-reads the file
 * when it changes, so `microvm token rotate` takes effect without a restart.
 */
export class ApiToken {
  private cached: { mtimeMs: number; token: string } | null = null;

  constructor(readonly path: string) {}

  /** The current token, generated on first use. */
  current(): string {
    const mtimeMs = statSync(this.path, { throwIfNoEntry: false })?.mtimeMs;
    if (mtimeMs === undefined) return this.rotate();
    if (this.cached?.mtimeMs !== mtimeMs) this.cached = { mtimeMs, token: readFileSync(this.path, 'utf8').trim() };
    return this.cached.token;
  }

  /** Replaces the token; the old one stops working at once. */
  rotate(): string {
    const token = randomBytes(32).toString('base64url');
    mkdirSync(dirname(this.path), { recursive: true, mode: 0o700 });
    const partial = `${this.path}.partial-${process.pid}`;
    writeFileSync(partial, `${token}\n`, { mode: 0o600 });
    renameSync(partial, this.path);
    this.cached = null;
    return token;
  }

  matches(presented: string): boolean {
    return sameSecret(presented, this.current());
  }

  /**
   * What a browser session's cookie holds: derived from the token, so rotating the token
   * ends every browser session too, and the cookie never reveals the token itself.
   */
  sessionValue(): string {
    return createHmac('sha256', this.current()).update('microvm browser session').digest('base64url');
  }

  matchesSession(presented: string): boolean {
    return sameSecret(presented, this.sessionValue());
  }
}

function sameSecret(presented: string, expected: string): boolean {
  const given = Buffer.from(presented);
  const wanted = Buffer.from(expected);
  return given.length === wanted.length && timingSafeEqual(given, wanted);
}

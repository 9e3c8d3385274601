import { describe, expect, it } from 'vitest';
import { DisplayTokens } from '../../../src/main/core/display/display-tokens.js';
import { SandboxError } from '../../../src/main/core/errors/sandbox-error.js';

function code(run: () => void): string | null {
  try {
    run();
    return null;
  } catch (error) {
    expect(error).toBeInstanceOf(SandboxError);
    return (error as SandboxError).code;
  }
}

describe('display tokens', () => {
  it('are 32 random bytes, bound to one sandbox, and spent by one connection', () => {
    const tokens = new DisplayTokens();
    const { token, expiresAt } = tokens.issue('sandbox-a');
    expect(Buffer.from(token, 'base64url')).toHaveLength(32);
    expect(expiresAt).toBeGreaterThan(Date.now());
    expect(tokens.issue('sandbox-a').token).not.toBe(token);
    expect(code(() => tokens.check(token, 'sandbox-a'))).toBeNull();
    // A token for A used on B: forbidden, and still good for A.
    expect(code(() => tokens.check(token, 'sandbox-b'))).toBe('forbidden');
    expect(code(() => tokens.spend(token, 'sandbox-b'))).toBe('forbidden');
    expect(code(() => tokens.spend(token, 'sandbox-a'))).toBeNull();
    expect(code(() => tokens.check(token, 'sandbox-a'))).toBe('unauthorized');
  });

  it('refuse a missing, unknown or expired token', () => {
    let now = 1_000_000;
    const tokens = new DisplayTokens({ ttlMs: 60_000, now: () => now });
    expect(code(() => tokens.check(undefined, 'a'))).toBe('unauthorized');
    expect(code(() => tokens.check('', 'a'))).toBe('unauthorized');
    expect(code(() => tokens.check('x'.repeat(43), 'a'))).toBe('unauthorized');
    const { token, expiresAt } = tokens.issue('a');
    expect(expiresAt).toBe(now + 60_000);
    now += 59_999;
    expect(code(() => tokens.check(token, 'a'))).toBeNull();
    now += 1;
    expect(code(() => tokens.check(token, 'a'))).toBe('unauthorized');
    expect(tokens.size).toBe(0);
  });

  it('forget a sandbox, and never hold more than a bounded number', () => {
    const tokens = new DisplayTokens();
    const a = tokens.issue('a').token;
    const b = tokens.issue('b').token;
    tokens.revoke('a');
    expect(code(() => tokens.check(a, 'a'))).toBe('unauthorized');
    expect(code(() => tokens.check(b, 'b'))).toBeNull();
    for (let i = 0; i < 1000; i++) tokens.issue('c');
    expect(tokens.size).toBeLessThanOrEqual(256);
    // The oldest went first.
    expect(code(() => tokens.check(b, 'b'))).toBe('unauthorized');
  });
});

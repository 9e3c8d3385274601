import { describe, expect, it } from 'vitest';
import { SandboxError } from '../../../src/main/core/errors/sandbox-error.js';
import { checkForwardRequest, forwardUrl, isLoopbackAddress } from '../../../src/main/core/network/forward-request.js';

function refusal(request: Parameters<typeof checkForwardRequest>[0]): SandboxError {
  try {
    checkForwardRequest(request);
  } catch (error) {
    if (error instanceof SandboxError) return error;
    throw error;
  }
  throw new Error(`accepted ${JSON.stringify(request)}`);
}

describe('isLoopbackAddress', () => {
  it.each(['127.0.0.1', '127.1.2.3', '127.255.255.254', '::1', '0:0:0:0:0:0:0:1', '::ffff:127.0.0.1'])('%s is loopback', (address) => {
    expect(isLoopbackAddress(address)).toBe(true);
  });

  it.each(['0.0.0.0', '::', '10.0.0.1', '128.0.0.1', '192.168.1.10', 'fe80::1', 'localhost', '', '127.0.0', '127.0.0.1 '])('%j is not', (address) => {
    expect(isLoopbackAddress(address)).toBe(false);
  });
});

describe('checkForwardRequest', () => {
  it('defaults to 127.0.0.1 and a port the system picks', () => {
    expect(checkForwardRequest({ guestPort: 8000 })).toEqual({ guestPort: 8000, hostPort: 0, address: '127.0.0.1' });
    expect(checkForwardRequest({ guestPort: 80, hostPort: 18080, address: '::1' })).toEqual({ guestPort: 80, hostPort: 18080, address: '::1' });
  });

  it('refuses an address other machines reach unless allowRemote is given, naming address', () => {
    for (const address of ['0.0.0.0', '::', '192.168.1.10']) {
      const error = refusal({ guestPort: 8000, address });
      expect(error.code).toBe('invalid_argument');
      expect(error.details).toEqual({ field: 'address' });
      expect(error.message).toMatch(new RegExp(`^address: ${address.replace(/\./g, '\\.')} is not a loopback address.*allowRemote`));
    }
    expect(checkForwardRequest({ guestPort: 8000, address: '0.0.0.0', allowRemote: true }).address).toBe('0.0.0.0');
  });

  it('refuses host names and malformed addresses', () => {
    for (const address of ['localhost', 'example.com', '127.0.0.1:80', '1.2.3', '::1/128', '127.0.0.1; rm -rf /']) {
      const error = refusal({ guestPort: 8000, address, allowRemote: true });
      expect(error.code).toBe('invalid_argument');
      expect(error.message).toMatch(/^address: .* is not an IPv4 or IPv6 address/);
    }
  });

  it('refuses ports outside 1-65535 (host port 0 means any)', () => {
    for (const guestPort of [0, -1, 65_536, 1.5, Number.NaN]) expect(refusal({ guestPort }).message).toMatch(/^guestPort: /);
    for (const hostPort of [-1, 65_536, 2.5]) expect(refusal({ guestPort: 80, hostPort }).message).toMatch(/^hostPort: /);
  });
});

describe('forwardUrl', () => {
  it('is the address and port, with loopback for a wildcard address', () => {
    expect(forwardUrl('127.0.0.1', 8080)).toBe('http://127.0.0.1:8080');
    expect(forwardUrl('::1', 8080)).toBe('http://[::1]:8080');
    expect(forwardUrl('0.0.0.0', 8080)).toBe('http://127.0.0.1:8080');
    expect(forwardUrl('::', 8080)).toBe('http://[::1]:8080');
    expect(forwardUrl('192.168.1.10', 80)).toBe('http://192.168.1.10:80');
  });
});

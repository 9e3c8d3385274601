import { describe, expect, it } from 'vitest';
import { allowsNothing, cidrsOverlap, parseCidr, validateNetworkSettings, type NetworkSettings } from '../../../src/main/core/network/network-mode.js';

const none: NetworkSettings = { network: 'none', egress: { allow: [], deny: [] } };

describe('IPv4 CIDRs', () => {
  it('parses network addresses with a prefix', () => {
    expect(parseCidr('203.0.113.0/24')).toEqual({ cidr: { base: 0xcb007100, prefix: 24 } });
    expect(parseCidr('0.0.0.0/0')).toEqual({ cidr: { base: 0, prefix: 0 } });
    expect(parseCidr('198.51.100.20/32')).toEqual({ cidr: { base: 0xc6336414, prefix: 32 } });
    // A bare address is one host.
    expect(parseCidr('198.51.100.20')).toEqual({ cidr: { base: 0xc6336414, prefix: 32 } });
  });

  it.each([
    ['10.0.0.5/24', 'has host bits set: did you mean 10.0.0.0/24?'],
    ['10.0.0.0/33', 'is not an IPv4 CIDR'],
    ['10.0.0/8', 'is not an IPv4 CIDR'],
    ['010.0.0.0/8', 'is not an IPv4 CIDR'],
    ['256.0.0.0/8', 'is not an IPv4 CIDR'],
    ['fd00::/8', '(IPv6 is not supported)'],
    ['10.0.0.0/8; rm -rf /', 'is not an IPv4 CIDR'],
    [' 10.0.0.0/8', 'is not an IPv4 CIDR'],
  ])('refuses %j: %s', (text, problem) => {
    const parsed = parseCidr(text);
    expect('error' in parsed && parsed.error).toContain(problem);
  });

  it('tells overlapping ranges apart', () => {
    const cidr = (text: string) => (parseCidr(text) as { cidr: { base: number; prefix: number } }).cidr;
    expect(cidrsOverlap(cidr('10.213.0.0/24'), cidr('10.0.0.0/8'))).toBe(true);
    expect(cidrsOverlap(cidr('10.0.0.0/8'), cidr('10.213.0.7/32'))).toBe(true);
    expect(cidrsOverlap(cidr('10.213.0.0/24'), cidr('10.213.1.0/24'))).toBe(false);
  });
});

describe('validateNetworkSettings', () => {
  it('defaults to no network, and normalises and deduplicates a policy', () => {
    expect(validateNetworkSettings({}, none)).toEqual(none);
    expect(validateNetworkSettings({ network: 'nat', egress: { deny: ['192.0.2.0/24', '192.0.2.0/24', '198.51.100.7'] } }, none)).toEqual({
      network: 'nat',
      egress: { allow: [], deny: ['192.0.2.0/24', '198.51.100.7/32'] },
    });
  });

  it('keeps the current policy when only the mode changes', () => {
    const current: NetworkSettings = { network: 'nat', egress: { allow: ['192.0.2.0/24'], deny: [] } };
    expect(validateNetworkSettings({ network: 'nat' }, current)).toEqual(current);
  });

  it.each([
    [{ network: 'bridge' }, 'network', 'network: "bridge" is not one of none, nat'],
    [{ network: 'nat', egress: [] }, 'egress', 'egress: must be an object { allow, deny }'],
    [{ network: 'nat', egress: { block: [] } }, 'egress.block', 'egress.block: is not a known field (allow, deny)'],
    [{ network: 'nat', egress: { allow: '10.0.0.0/8' } }, 'egress.allow', 'egress.allow: must be a list of IPv4 CIDRs'],
    [{ network: 'nat', egress: { deny: ['10.0.0.0/8', 7] } }, 'egress.deny[1]', 'egress.deny[1]: must be a string'],
    [{ network: 'nat', egress: { allow: ['10.1.2.3/8'] } }, 'egress.allow[0]', 'egress.allow[0]: "10.1.2.3/8" has host bits set: did you mean 10.0.0.0/8?'],
    [{ network: 'nat', egress: { deny: Array.from({ length: 65 }, (_, i) => `10.0.${i}.0/24`) } }, 'egress.deny', 'has 65 entries; at most 64'],
    [{ egress: { deny: ['10.0.0.0/8'] } }, 'egress', 'an egress policy needs network "nat"'],
  ])('refuses %j, naming %s', (request, field, message) => {
    expect(() => validateNetworkSettings(request, none)).toThrow(expect.objectContaining({ code: 'invalid_argument', details: { field }, message: expect.stringContaining(message) }));
  });

  it('knows a policy that allows nothing', () => {
    expect(allowsNothing({ allow: [], deny: ['0.0.0.0/0'] })).toBe(true);
    expect(allowsNothing({ allow: ['10.0.0.0/8'], deny: ['0.0.0.0/0'] })).toBe(true);
    expect(allowsNothing({ allow: [], deny: ['0.0.0.0/1', '128.0.0.0/1'] })).toBe(false);
  });
});

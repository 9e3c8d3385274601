import { describe, expect, it } from 'vitest';
import { bridgeName, gatewayCidr, guestAddress, networkCidr, tapName, tapOwner } from '../../../src/main/net-helper/helper-arguments.js';

const refusal = (fn: () => unknown) => {
  try {
    fn();
  } catch (error) {
    expect(error).toMatchObject({ name: 'NetHelperError', outcome: 'refused' });
    return (error as Error).message;
  }
  throw new Error('not refused');
};

describe('the helper checks its arguments', () => {
  it('names: the project patterns, within IFNAMSIZ', () => {
    expect(bridgeName('BRIDGE', 'mvbr0')).toBe('mvbr0');
    expect(bridgeName('BRIDGE', 'mvbr9999')).toBe('mvbr9999');
    expect(tapName('TAP', `mvt${'a1'.repeat(6)}`)).toHaveLength(15);
    for (const bad of ['mvbr', 'mvbr00000', 'br0', 'MVBR0', 'mvbr0\n', 'mvbr٣']) expect(refusal(() => bridgeName('BRIDGE', bad))).toContain('BRIDGE');
    for (const bad of ['mvt', `mvt${'a'.repeat(13)}`, 'mvtA', 'mvt-a', 'mvt_a', 'mvt.a', 'eth0', '']) expect(refusal(() => tapName('TAP', bad))).toContain('TAP');
  });

  it('CIDRs: dotted quads only, a prefix from 0 to 32, the network address itself', () => {
    expect(networkCidr('--deny', '0.0.0.0/0')).toBe('0.0.0.0/0');
    expect(networkCidr('--deny', '203.0.113.7')).toBe('203.0.113.7/32');
    expect(networkCidr('--allow', '10.0.0.0/8')).toBe('10.0.0.0/8');
    expect(refusal(() => networkCidr('--allow', '10.1.0.0/8'))).toBe('--allow "10.1.0.0/8" is not a network address: did you mean 10.0.0.0/8?');
    for (const bad of ['10.0.0.0/', '10.0.0.0/+8', '10.0.0.0/08', '10.0.0.0/8/8', '0x0a.0.0.0/8', '10.0.0.0 /8', '::/0', '10.0.0.0/-1', 'example.com/32']) {
      expect(refusal(() => networkCidr('--deny', bad))).toContain('--deny');
    }
  });

  it('the gateway: a host address in a subnet from /8 to /30', () => {
    expect(gatewayCidr('GATEWAY_CIDR', '10.213.0.1/24')).toEqual({ cidr: '10.213.0.1/24', address: '10.213.0.1', prefix: 24, subnet: '10.213.0.0/24' });
    expect(gatewayCidr('GATEWAY_CIDR', '172.16.5.6/30').subnet).toBe('172.16.5.4/30');
    expect(refusal(() => gatewayCidr('GATEWAY_CIDR', '172.16.5.7/30'))).toContain("subnet's broadcast address");
    expect(refusal(() => gatewayCidr('GATEWAY_CIDR', '10.0.0.1/31'))).toContain('prefix from 8 to 30');
    expect(refusal(() => gatewayCidr('GATEWAY_CIDR', '224.0.0.1/24'))).toContain('not a unicast address');
    expect(refusal(() => guestAddress('GUEST_IP', '10.213.0.5/32'))).toContain('not an IPv4 address');
  });

  it('uids: numeric; through pkexec only the caller’s own', () => {
    expect(tapOwner('UID', '0', { via: 'root', uid: 0 })).toBe(0);
    expect(tapOwner('UID', '4294967294', { via: 'root', uid: 0 })).toBe(4294967294);
    expect(tapOwner('UID', '1000', { via: 'pkexec', uid: 1000 })).toBe(1000);
    expect(refusal(() => tapOwner('UID', '1001', { via: 'pkexec', uid: 1000 }))).toBe("UID 1001 is not the caller's uid (1000): a tap can only be created for yourself");
    expect(refusal(() => tapOwner('UID', '0', { via: 'pkexec', uid: 1000 }))).toContain("not the caller's uid");
    for (const bad of ['', '01000', '1000 ', '1e3', '0x10', '-1', '4294967295', 'root']) expect(refusal(() => tapOwner('UID', bad, { via: 'root', uid: 0 }))).toContain('UID');
  });
});

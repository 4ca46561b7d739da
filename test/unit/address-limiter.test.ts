import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import { AddressLimiter, addressKey } from '../../src/transport/address-limiter.js';

function socket(remoteAddress: string) {
  const e = new EventEmitter() as EventEmitter & { remoteAddress: string };
  e.remoteAddress = remoteAddress;
  return e;
}

describe('AddressLimiter', () => {
  it('admits up to the cap per address, refuses beyond, and frees a slot when a socket closes', () => {
    const limiter = new AddressLimiter(2);
    const a = [socket('10.0.0.1'), socket('10.0.0.1'), socket('10.0.0.1')];
    expect(a.map((s) => limiter.track(s))).toEqual([true, true, false]);
    expect(limiter.over('10.0.0.1')).toBe(true);
    expect(limiter.track(socket('10.0.0.2'))).toBe(true);
    a[2]!.emit('close');
    expect(limiter.over('10.0.0.1')).toBe(false);
    a[0]!.emit('close');
    expect(limiter.track(socket('10.0.0.1'))).toBe(true);
    expect(limiter.count('10.0.0.1')).toBe(2);
  });

  it('forgets an address once its last socket closes (the map holds live addresses only)', () => {
    const limiter = new AddressLimiter(1);
    const s = socket('10.0.0.9');
    limiter.track(s);
    s.emit('close');
    expect(limiter.count('10.0.0.9')).toBe(0);
    expect((limiter as unknown as { open: Map<string, number> }).open.size).toBe(0);
  });
});

describe('addressKey', () => {
  it('counts IPv4-mapped IPv6 as IPv4 and IPv6 per /64', () => {
    expect(addressKey('::ffff:127.0.0.2')).toBe('127.0.0.2');
    expect(addressKey('127.0.0.2')).toBe('127.0.0.2');
    expect(addressKey('2001:db8:1:2:aaaa::1')).toBe('2001:db8:1:2::/64');
    expect(addressKey('2001:0db8:0001:0002:ffff:ffff:ffff:ffff')).toBe('2001:db8:1:2::/64');
    expect(addressKey('2001:db8::1')).toBe('2001:db8:0:0::/64');
    expect(addressKey('::1')).toBe('0:0:0:0::/64');
    expect(addressKey(undefined)).toBe('?');
  });
});

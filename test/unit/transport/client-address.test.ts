// The one rule both transports use for a client's address: X-Forwarded-For believed only from a
// trusted proxy, read from the right, never throwing on whatever a client puts in it.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { canonicalAddress, ClientAddresses } from '../../../src/transport/client-address.js';

describe('ClientAddresses', () => {
  const behindProxies = new ClientAddresses(['loopback', '10.0.0.0/8', '192.0.2.7', '2001:db8::/32']);

  it('ignores X-Forwarded-For when no proxy is trusted, or the peer is not one', () => {
    expect(new ClientAddresses().resolve('203.0.113.1', '198.51.100.1')).toBe('203.0.113.1');
    expect(behindProxies.resolve('203.0.113.1', '198.51.100.1')).toBe('203.0.113.1');
    expect(behindProxies.resolve('10.0.0.1', undefined)).toBe('10.0.0.1');
  });

  it('takes the right-most hop that is not a trusted proxy', () => {
    expect(behindProxies.resolve('127.0.0.1', '198.51.100.1')).toBe('198.51.100.1');
    expect(behindProxies.resolve('10.0.0.1', 'spoofed, 198.51.100.1, 10.9.9.9, 192.0.2.7')).toBe('198.51.100.1');
    expect(behindProxies.resolve('::1', '2001:db8::1, 2001:db9::5')).toBe('2001:db9::5');
    // Every hop trusted: the farthest one.
    expect(behindProxies.resolve('10.0.0.1', '10.0.0.2,10.0.0.3')).toBe('10.0.0.2');
  });

  it('accepts hops with ports and brackets, and spells addresses one way', () => {
    expect(behindProxies.resolve('10.0.0.1', '198.51.100.1:4711')).toBe('198.51.100.1');
    expect(behindProxies.resolve('10.0.0.1', '[2001:DB9:0:0::5]:443')).toBe('2001:db9::5');
    expect(behindProxies.resolve('10.0.0.1', '::ffff:198.51.100.1')).toBe('198.51.100.1');
  });

  it('falls back to the peer on garbage, empty hops and over-long chains', () => {
    for (const header of ['', ' ', 'unknown', '198.51.100.1, nonsense', ',', '1.2.3.4.5', 'x'.repeat(100_000)]) {
      expect(behindProxies.resolve('10.0.0.1', header)).toBe('10.0.0.1');
    }
    expect(behindProxies.resolve('10.0.0.1', Array(100).fill('10.0.0.9').join(', '))).toBe('10.0.0.1');
    // Garbage further left than the answer does not matter: it is never read.
    expect(behindProxies.resolve('10.0.0.1', 'garbage, 198.51.100.1')).toBe('198.51.100.1');
  });

  it('never throws, whatever the header holds', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 300 }), fc.array(fc.constantFrom('10.0.0.1', '198.51.100.1', '::1', ',', ' ', '[', ']', ':')), (junk, parts) => {
        const header = junk + parts.join('');
        const out = behindProxies.resolve('10.0.0.1', header);
        expect(typeof out).toBe('string');
      }),
    );
  });

  it('matches IPv4-mapped IPv6 peers against IPv4 rules', () => {
    const list = new ClientAddresses(['127.0.0.1', '10.0.0.0/8']);
    expect(list.isTrusted('::ffff:127.0.0.1')).toBe(true);
    expect(list.isTrusted('0000:0000:0000:0000:0000:ffff:0a01:0203')).toBe(true);
    expect(list.isTrusted('::ffff:11.0.0.1')).toBe(false);
    expect(list.resolve('::ffff:127.0.0.1', '198.51.100.1')).toBe('198.51.100.1');
    expect(new ClientAddresses(['::ffff:10.0.0.0/104']).isTrusted('10.200.0.1')).toBe(true);
  });

  it("trusts 'loopback' as 127.0.0.0/8 and ::1, in any spelling", () => {
    const loopback = new ClientAddresses(['loopback']);
    for (const a of ['127.0.0.1', '127.255.0.9', '::1', '0:0:0:0:0:0:0:1', '::ffff:127.0.0.2']) expect(loopback.isTrusted(a)).toBe(true);
    for (const a of ['128.0.0.1', '::2', '', 'localhost']) expect(loopback.isTrusted(a)).toBe(false);
  });

  it('refuses entries that are not an address, a CIDR or loopback, naming the entry', () => {
    for (const bad of ['10.0.0.0/33', '::1/129', 'localhost', '10.0.0.0/', '10.0.0.0/8/8', '300.1.1.1', '10.0.0.0/-1', '']) {
      expect(() => new ClientAddresses([bad])).toThrow(
        new TypeError(`server.trustProxy: '${bad}' is not an IP address, a CIDR range (10.0.0.0/8, ::1/128) or 'loopback'`),
      );
    }
  });
});

describe('canonicalAddress', () => {
  it('writes IPv6 in RFC 5952 short form and IPv4-mapped addresses as IPv4', () => {
    expect(canonicalAddress('0000:0000:0000:0000:0000:0000:0000:0001')).toBe('::1');
    expect(canonicalAddress('0000:0000:0000:0000:0000:ffff:7f00:0001')).toBe('127.0.0.1');
    expect(canonicalAddress('::FFFF:192.0.2.1')).toBe('192.0.2.1');
    expect(canonicalAddress('2001:0db8:0000:0000:0001:0000:0000:0001')).toBe('2001:db8::1:0:0:1');
    expect(canonicalAddress('2001:db8:0:1:1:1:1:1')).toBe('2001:db8:0:1:1:1:1:1');
    expect(canonicalAddress('::')).toBe('::');
    expect(canonicalAddress('fe80::1%eth0')).toBe('fe80::1%eth0');
    expect(canonicalAddress('192.0.2.1')).toBe('192.0.2.1');
    expect(canonicalAddress('garbage')).toBe('garbage');
  });
});

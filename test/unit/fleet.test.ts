/** The fleet's pure parts: gateway URL lists, the registry entry format, aging of entries, the config keys, failover options. */
import { describe, expect, it } from 'vitest';
import { GatewayUrls, MAX_GATEWAY_URLS } from '../../src/client/gateway-urls.js';
import { resolveFailover } from '../../src/client/client.js';
import { ConfigError, resolveGatewayConfig } from '../../src/config.js';
import { readGatewayEntry, writeGatewayEntry, type GatewayEntry } from '../../src/fleet/gateway-entry.js';
import { GatewayTable } from '../../src/fleet/gateway-table.js';

const enc = (v: unknown) => new TextEncoder().encode(JSON.stringify(v));

describe('GatewayUrls', () => {
  it('starts where asked and moves to the next URL on each attempt, wrapping around', () => {
    const urls = new GatewayUrls(['ws://a', 'ws://b', 'ws://c'], 'random', () => 0.5);
    expect([urls.next(), urls.next(), urls.next(), urls.next()]).toEqual(['ws://b', 'ws://c', 'ws://a', 'ws://b']);
    const first = new GatewayUrls(['ws://a', 'ws://b'], 'first');
    expect([first.next(), first.next()]).toEqual(['ws://a', 'ws://b']);
    expect(new GatewayUrls('ws://only').next()).toBe('ws://only');
  });

  it('refuses an empty list, too many URLs, and entries that are not strings, with INVALID_ARGUMENT', () => {
    expect(() => new GatewayUrls([])).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
    expect(() => new GatewayUrls(Array.from({ length: MAX_GATEWAY_URLS + 1 }, (_, i) => `ws://h${i}`))).toThrow(/at most 64/);
    expect(() => new GatewayUrls(['ws://a', ''])).toThrow(/url\[1\]/);
  });
});

describe('fleet entries', () => {
  const entry: GatewayEntry = { id: 'gw-a', urls: ['ws://10.0.0.1:7878', 'tcp://10.0.0.1:7880'], ttlMs: 15_000 };

  it('round-trip', () => {
    expect(readGatewayEntry(writeGatewayEntry(entry))).toEqual(entry);
  });

  it('are ignored unless well formed: id, URL schemes, URL count, TTL range, JSON', () => {
    const bad = [
      { ...entry, id: 'a.b' },
      { ...entry, urls: [] },
      { ...entry, urls: ['http://10.0.0.1'] },
      { ...entry, urls: Array.from({ length: 9 }, () => 'ws://h') },
      { ...entry, ttlMs: 10 },
      { ...entry, ttlMs: '15000' },
      null,
      [],
    ];
    for (const v of bad) expect(readGatewayEntry(enc(v)), JSON.stringify(v)).toBeUndefined();
    expect(readGatewayEntry(new Uint8Array([0xff, 0xfe]))).toBeUndefined();
  });
});

describe('GatewayTable', () => {
  const gw = (id: string, url: string, ttlMs = 1_000): GatewayEntry => ({ id, urls: [url, 'tcp://x:1'], ttlMs });

  it('keeps a gateway while its entry is renewed within its TTL and drops it after', () => {
    const t = new GatewayTable();
    t.put(gw('a', 'ws://a'), 0);
    t.put(gw('b', 'ws://b', 3_000), 0);
    expect(t.urls()).toEqual(['ws://a', 'ws://b']);
    expect(t.nextExpiry(400)).toBe(600);
    t.put(gw('a', 'ws://a'), 900);
    expect(t.prune(1_500)).toEqual([]);
    expect(t.prune(1_901)).toEqual(['a']);
    expect(t.urls()).toEqual(['ws://b']);
    t.delete('b');
    expect(t.urls()).toEqual([]);
    expect(t.nextExpiry(0)).toBeUndefined();
  });

  it('holds at most maxGateways and counts the ones it ignores; a known gateway is still renewed', () => {
    const t = new GatewayTable(2);
    expect(t.put(gw('a', 'ws://a'), 0)).toBe(true);
    expect(t.put(gw('b', 'ws://b'), 0)).toBe(true);
    expect(t.put(gw('c', 'ws://c'), 0)).toBe(false);
    expect(t.ignored).toBe(1);
    expect(t.put(gw('a', 'ws://a2'), 10)).toBe(true);
    expect(t.urls()).toEqual(['ws://a2', 'ws://b']);
  });

  it('does not count time the service was blind against a gateway, and a replayed older entry does not age a renewed one', () => {
    const t = new GatewayTable();
    t.put(gw('a', 'ws://a'), 0);
    // The watch fell silent at 500 and was made again at 1_400: 'a' gets a full TTL from 1_400.
    t.forgive(1_400);
    expect(t.prune(2_300)).toEqual([]);
    // The new watch replays the entry written at 0: it must not pull 'a' back to 0.
    t.put(gw('a', 'ws://a'), 0);
    expect(t.prune(2_399)).toEqual([]);
    expect(t.prune(2_401)).toEqual(['a']);
  });
});

describe('fleet config', () => {
  it('defaults: no NATS, advertise what it listens on, bucket sluice_gateways, TTL 15 s, rate limits shared', () => {
    const c = resolveGatewayConfig();
    expect(c.nats.servers).toEqual([]);
    expect(c.fleet).toEqual({ id: null, advertise: [], bucket: 'sluice_gateways', ttlMs: 15_000, sharedRateLimits: true, rateIntervalMs: 500, rateMaxKeys: 1_000, rateMaxRemoteKeys: 20_000, rateMinShare: 0.1 });
  });

  it.each([
    [{ nats: { servers: 'nats://x' } }, 'nats.servers'],
    [{ fleet: { id: 'has space' } }, 'fleet.id'],
    [{ fleet: { advertise: ['http://x:1'] } }, 'fleet.advertise'],
    [{ fleet: { bucket: 'a.b' } }, 'fleet.bucket'],
    [{ fleet: { ttlMs: 10 } }, 'fleet.ttlMs'],
    [{ fleet: { heartbeat: 1 } }, 'fleet.heartbeat'],
  ])('%j fails naming %s', (options, key) => {
    try {
      resolveGatewayConfig(options as never);
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      expect((err as ConfigError).key).toBe(key);
    }
  });
});

describe('failover options', () => {
  it('default to 2 retries waiting 5 s each, and are range-checked', () => {
    expect(resolveFailover()).toEqual({ retries: 2, waitMs: 5_000 });
    expect(() => resolveFailover({ retries: 11 })).toThrow(/failover.retries/);
    expect(() => resolveFailover({ waitMs: -1 })).toThrow(/failover.waitMs/);
  });
});

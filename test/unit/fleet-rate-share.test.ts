/**
 * Rate limits shared by a fleet, the pure parts: a bucket's lowered rate,
 * the limiter's sweep, the report's wire form and its strict reading, the
 * other gateways' table (aging, caps), the share arithmetic, and gateways
 * simulated on one hand-driven clock exchanging reports in memory.
 */
import { describe, expect, it } from 'vitest';
import { TokenBucket } from '../../src/resilience/token-bucket.js';
import { KeyedRateLimiter } from '../../src/resilience/rate-limiter.js';
import { MAX_REPORT_BYTES, MAX_REPORT_KEYS, readRateReport, writeRateReport, type RateReport } from '../../src/fleet/rate-report.js';
import { RemoteRates, STALE_AFTER_INTERVALS } from '../../src/fleet/remote-rates.js';
import { FleetRateShare, localShare } from '../../src/fleet/rate-share.js';
import { rateKeyTag } from '../../src/fleet/shared-rate-limits.js';
import { ConfigError, resolveGatewayConfig } from '../../src/config.js';
import { compilePolicies } from '../../src/policy/policy-config.js';

const enc = (v: unknown) => new TextEncoder().encode(JSON.stringify(v));
const TAG = 'AAAAAAAAAAAAAAAA';

describe('a token bucket with a lowered rate', () => {
  it('refills at the new rate from the change on, never above the configured rate', () => {
    let now = 0;
    const b = new TokenBucket({ ratePerSec: 10, burst: 10 }, () => now);
    for (let i = 0; i < 10; i++) b.take();
    now = 500; // 5 tokens at 10/s
    b.setRate(2);
    expect(b.available()).toBeCloseTo(5);
    now = 1500; // +2 at 2/s
    expect(b.available()).toBeCloseTo(7);
    expect(b.ratePerSec).toBe(2);
    b.setRate(1_000);
    expect(b.ratePerSec).toBe(10);
    expect(() => b.setRate(0)).toThrow(RangeError);
    expect(() => b.setRate(Number.NaN)).toThrow(RangeError);
  });

  it('tells a later retry when its rate is lowered', () => {
    const b = new TokenBucket({ ratePerSec: 10, burst: 1 }, () => 0);
    b.take();
    b.setRate(1);
    expect(b.take()).toEqual({ ok: false, retryAfterMs: 1000 });
  });
});

describe('KeyedRateLimiter.sweep and setRate', () => {
  it('reports the keys taken from since the last sweep with their takes (admitted or not), then starts again', () => {
    let now = 0;
    const l = new KeyedRateLimiter({ ratePerSec: 1, burst: 2 }, () => now);
    for (let i = 0; i < 5; i++) l.take('a');
    l.take('b');
    const tags: string[] = [];
    const first = l.sweep((k) => (tags.push(k), `t-${k}`));
    expect(first).toEqual([
      { key: 'a', tag: 't-a', takes: 5, ratePerSec: 1 },
      { key: 'b', tag: 't-b', takes: 1, ratePerSec: 1 },
    ]);
    l.take('a');
    expect(l.sweep((k) => (tags.push(k), `t-${k}`))).toEqual([{ key: 'a', tag: 't-a', takes: 1, ratePerSec: 1 }]);
    expect(tags).toEqual(['a', 'b']); // a tag is computed once per bucket
    now = 10_000;
    expect(l.sweep((k) => k)).toEqual([]);
  });

  it('keeps sweeping a lowered key while idle, until its rate is restored; evicting forgets it', () => {
    const l = new KeyedRateLimiter({ ratePerSec: 10, burst: 2, maxKeys: 2 }, () => 0);
    l.sweep((k) => k);
    l.take('a');
    l.sweep((k) => k);
    expect(l.setRate('a', 4)).toBe(true);
    expect(l.loweredKeys).toBe(1);
    expect(l.sweep((k) => k)).toEqual([{ key: 'a', tag: 'a', takes: 0, ratePerSec: 4 }]);
    l.setRate('a', 10);
    expect(l.loweredKeys).toBe(0);
    expect(l.sweep((k) => k)).toEqual([]);
    expect(l.setRate('nobody', 1)).toBe(false);
    l.setRate('a', 4);
    l.take('b');
    l.take('c'); // evicts a
    expect(l.loweredKeys).toBe(0);
    expect(l.sweep((k) => k).map((x) => x.key)).toEqual(['b', 'c']);
  });
});

describe('rate reports', () => {
  const report: RateReport = { gateway: 'gw-a', intervalMs: 500, rates: [[TAG, 12.5], ['BBBBBBBBBBBBBBBB', 0]] };

  it('round-trip, and tags are fixed-size hashes of route and identity', () => {
    expect(readRateReport(writeRateReport(report))).toEqual(report);
    const t = rateKeyTag('orders.place', 'user:alice');
    expect(t).toMatch(/^[A-Za-z0-9_-]{16}$/);
    expect(rateKeyTag('orders.place', 'user:alice')).toBe(t);
    expect(rateKeyTag('orders.place', 'user:bob')).not.toBe(t);
    expect(rateKeyTag('orders.plac', 'e\nuser:alice')).not.toBe(rateKeyTag('orders.place', '\nuser:alice'));
  });

  it('a report of the most keys allowed fits well within its byte cap', () => {
    const big: RateReport = { gateway: 'g'.repeat(64), intervalMs: 60_000, rates: Array.from({ length: MAX_REPORT_KEYS }, (_, i) => [rateKeyTag('r', String(i)), 123_456_789.123]) };
    const bytes = writeRateReport(big);
    expect(bytes.length).toBeLessThan(MAX_REPORT_BYTES);
    expect(readRateReport(bytes)?.rates).toHaveLength(MAX_REPORT_KEYS);
  });

  it.each([
    ['not JSON', new TextEncoder().encode('{')],
    ['not UTF-8', new Uint8Array([0xff, 0xfe])],
    ['null', enc(null)],
    ['another version', enc({ v: 2, gw: 'gw-a', ms: 500, k: [] })],
    ['a bad gateway id', enc({ v: 1, gw: 'gw a', ms: 500, k: [] })],
    ['an interval out of range', enc({ v: 1, gw: 'gw-a', ms: 5, k: [] })],
    ['a fractional interval', enc({ v: 1, gw: 'gw-a', ms: 500.5, k: [] })],
    ['an odd key list', enc({ v: 1, gw: 'gw-a', ms: 500, k: [TAG] })],
    ['a bad tag', enc({ v: 1, gw: 'gw-a', ms: 500, k: ['short', 1] })],
    ['a negative rate', enc({ v: 1, gw: 'gw-a', ms: 500, k: [TAG, -1] })],
    ['a rate as a string', enc({ v: 1, gw: 'gw-a', ms: 500, k: [TAG, '1'] })],
    ['a huge rate', enc({ v: 1, gw: 'gw-a', ms: 500, k: [TAG, 1e12] })],
    ['too many keys', enc({ v: 1, gw: 'gw-a', ms: 500, k: Array.from({ length: (MAX_REPORT_KEYS + 1) * 2 }, (_, i) => (i % 2 ? 1 : TAG)) })],
    ['too many bytes', new Uint8Array(MAX_REPORT_BYTES + 1).fill(0x20)],
  ])('are malformed with %s: ignored whole', (_name, bytes) => {
    expect(readRateReport(bytes)).toBeUndefined();
  });
});

describe('RemoteRates', () => {
  it('sums the other gateways\' fresh numbers and ages each out after three of its intervals', () => {
    const r = new RemoteRates(10);
    r.record('gw-b', TAG, 10, 100, 0);
    r.record('gw-c', TAG, 5, 1_000, 0);
    expect(r.others(TAG, 100)).toEqual({ perSec: 15, gateways: 2 });
    expect(r.others(TAG, STALE_AFTER_INTERVALS * 100 + 1)).toEqual({ perSec: 5, gateways: 1 });
    r.prune(STALE_AFTER_INTERVALS * 1_000 + 1);
    expect(r.size).toBe(0);
    expect(r.others(TAG, 0)).toEqual({ perSec: 0, gateways: 0 });
  });

  it('forgets a gateway\'s number at once when it reports 0', () => {
    const r = new RemoteRates(10);
    r.record('gw-b', TAG, 10, 100, 0);
    r.record('gw-b', TAG, 0, 100, 50);
    expect(r.others(TAG, 60)).toEqual({ perSec: 0, gateways: 0 });
    expect(r.size).toBe(0);
  });

  it('holds at most maxKeys tags (least recently reported forgotten, counted) and 64 gateways per tag', () => {
    const r = new RemoteRates(100);
    for (let i = 0; i < 1_000; i++) r.record('gw-b', rateKeyTag('r', String(i)), 1, 500, 0);
    expect(r.size).toBe(100);
    expect(r.evicted).toBe(900);
    for (let g = 0; g < 70; g++) r.record(`gw-${g}`, TAG, 1, 500, 0);
    expect(r.others(TAG, 0)).toEqual({ perSec: 64, gateways: 64 });
    expect(r.ignored).toBe(6);
  });
});

describe('localShare', () => {
  it('is the whole limit when no other gateway uses the key', () => {
    expect(localShare(100, 500, 0, 1, 0.1)).toBe(100);
  });
  it('leaves what the others ask when the fleet asks less than the limit', () => {
    expect(localShare(100, 10, 30, 2, 0.1)).toBe(70);
  });
  it('splits the limit in proportion to what each gateway is asked when the fleet asks more', () => {
    expect(localShare(100, 300, 100, 2, 0.1)).toBe(75);
    expect(localShare(100, 100, 300, 2, 0.1)).toBe(25);
    expect(localShare(100, 300, 100, 2, 0.1) + localShare(100, 100, 300, 2, 0.1)).toBe(100);
  });
  it('keeps a floor of minShare of the limit split over the gateways, so a key never starves', () => {
    expect(localShare(100, 0, 1_000, 2, 0.1)).toBe(5);
    expect(localShare(100, 1, 10_000, 4, 0.2)).toBe(5);
  });
  it('is never above the limit, whatever the others report', () => {
    for (const others of [1e-9, 1, 99, 100, 1e9]) for (const mine of [0, 1, 1e9]) expect(localShare(100, mine, others, 3, 1)).toBeLessThanOrEqual(100);
  });
});

/**
 * Gateways on one clock: a caller asks `demand[i]` requests per second of
 * gateway i, spread evenly in 1 ms steps; every `intervalMs` each gateway
 * ticks and its report is delivered to the others (unless `linked` is off).
 */
function fleet(n: number, opts: { limit: number; burst: number; intervalMs: number; minShare?: number }) {
  let now = 0;
  const clock = () => now;
  const gws = Array.from({ length: n }, (_, i) => {
    const limiter = new KeyedRateLimiter({ ratePerSec: opts.limit, burst: opts.burst }, clock);
    const share = new FleetRateShare({ gatewayId: `gw-${i}`, intervalMs: opts.intervalMs, maxKeys: 100, maxRemoteKeys: 100, minShare: opts.minShare ?? 0.1, tagOf: rateKeyTag }, clock);
    return { limiter, share, admitted: 0, owed: 0 };
  });
  let linked = true;
  const run = (ms: number, demand: number[]) => {
    const admitted = gws.map(() => 0);
    for (let t = 0; t < ms; t++) {
      now++;
      gws.forEach((g, i) => {
        g.owed += demand[i]! / 1000;
        while (g.owed >= 1) {
          g.owed--;
          if (g.limiter.take('user:alice').ok) admitted[i]!++;
        }
      });
      if (now % opts.intervalMs === 0) {
        const reports = gws.map((g) => writeRateReport(g.share.tick([{ route: 'orders.place', ratePerSec: opts.limit, limiter: g.limiter }])));
        if (linked) gws.forEach((g) => reports.forEach((r) => g.share.receive(readRateReport(r)!)));
      }
    }
    return admitted;
  };
  return { gws, run, setLinked: (v: boolean) => (linked = v) };
}

const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);

describe('gateways sharing a limit', () => {
  // limit 50/s, burst 5, interval 100 ms; over 10 s the route's arithmetic allows 50 x 10 + 5 (one bucket's burst).
  const opts = { limit: 50, burst: 5, intervalMs: 100 };

  it('a caller spread evenly over two gateways gets the limit, not twice it', () => {
    const f = fleet(2, opts);
    const admitted = sum(f.run(10_000, [200, 200]));
    // Bound: the limit over the run, each gateway's burst, and each gateway admitting up to the whole limit for the first interval.
    expect(admitted).toBeLessThanOrEqual(50 * 10 + 2 * 5 + 2 * 50 * 0.1);
    expect(admitted).toBeGreaterThanOrEqual(50 * 10 * 0.95);
  });

  it('a caller asking 9 to 1 of two gateways still gets the limit, split 9 to 1', () => {
    const f = fleet(2, opts);
    f.run(1_000, [360, 40]); // converge
    const admitted = f.run(10_000, [360, 40]);
    expect(sum(admitted)).toBeLessThanOrEqual(50 * 10 * 1.02);
    expect(sum(admitted)).toBeGreaterThanOrEqual(50 * 10 * 0.95);
    expect(admitted[0]! / admitted[1]!).toBeGreaterThan(8);
    expect(admitted[0]! / admitted[1]!).toBeLessThan(10);
  });

  it('a caller under the limit on four gateways is never refused', () => {
    const f = fleet(4, opts);
    const admitted = f.run(10_000, [10, 10, 10, 10]);
    expect(sum(admitted)).toBe(400);
  });

  it('a caller moving from one gateway to another gets the whole limit there within two intervals', () => {
    const f = fleet(2, opts);
    f.run(2_000, [500, 0]);
    expect(f.run(200, [0, 500])[1]).toBeGreaterThanOrEqual(5); // at least the burst and the floor at once
    const after = f.run(2_000, [0, 500]);
    expect(after[1]).toBeGreaterThanOrEqual(50 * 2 * 0.95);
    expect(after[1]).toBeLessThanOrEqual(50 * 2 + 5);
  });

  it('with the exchange cut (NATS away), each gateway falls back to the whole limit within three intervals', () => {
    const f = fleet(2, opts);
    f.run(2_000, [200, 200]);
    f.setLinked(false);
    f.run(3 * 100 + 100, [200, 200]);
    const alone = f.run(10_000, [200, 200]);
    for (const a of alone) {
      expect(a).toBeLessThanOrEqual(50 * 10 + 5);
      expect(a).toBeGreaterThanOrEqual(50 * 10 * 0.95);
    }
  });

  it('ignores its own report, and a report can only lower a rate: a flood of huge numbers leaves the floor', () => {
    const f = fleet(1, opts);
    const g = f.gws[0]!;
    f.run(100, [100]);
    const own = g.share.tick([{ route: 'orders.place', ratePerSec: 50, limiter: g.limiter }]);
    expect(g.share.receive(own)).toBe(false);
    g.share.receive({ gateway: 'gw-evil', intervalMs: 100, rates: [[rateKeyTag('orders.place', 'user:alice'), 1e9]] });
    f.run(100, [100]);
    const [a] = g.limiter.sweep(rateKeyTag.bind(null, 'orders.place'));
    expect(a!.ratePerSec).toBeCloseTo((50 * 0.1) / 2);
  });

  it('reports at most maxKeys keys, the busiest first, and counts the rest', () => {
    let now = 0;
    const limiter = new KeyedRateLimiter({ ratePerSec: 10, burst: 10 }, () => now);
    const share = new FleetRateShare({ gatewayId: 'gw-a', intervalMs: 100, maxKeys: 2, maxRemoteKeys: 10, minShare: 0.1, tagOf: rateKeyTag }, () => now);
    for (let k = 1; k <= 4; k++) for (let i = 0; i < k; i++) limiter.take(`id-${k}`);
    now = 100;
    const report = share.tick([{ route: 'r', ratePerSec: 10, limiter }]);
    expect(report.rates.map(([tag]) => tag)).toEqual([rateKeyTag('r', 'id-4'), rateKeyTag('r', 'id-3')]);
    expect(share.counters.unpublishedKeys).toBe(2);
    // Quiet next interval: the keys reported are reported once more at 0, so the others stop counting them at once.
    now = 200;
    expect(share.tick([{ route: 'r', ratePerSec: 10, limiter }]).rates).toEqual([
      [rateKeyTag('r', 'id-4'), 0],
      [rateKeyTag('r', 'id-3'), 0],
    ]);
    now = 300;
    expect(share.tick([{ route: 'r', ratePerSec: 10, limiter }]).rates).toEqual([]);
  });
});

describe('fleet rate config', () => {
  it('shares only when some route has a rate limit (defaults, a route, or a prefix)', () => {
    expect(compilePolicies({ defaults: {}, routes: {} }).anyRateLimit).toBe(false);
    expect(compilePolicies({ defaults: {}, routes: { 'a.b': { deadlineMs: 100 } } }).anyRateLimit).toBe(false);
    expect(compilePolicies({ defaults: {}, routes: { 'a.b': { rateLimit: { ratePerSec: 1, burst: 1 } } } }).anyRateLimit).toBe(true);
    expect(compilePolicies({ defaults: {}, routes: { 'a.*': { rateLimit: { ratePerSec: 1, burst: 1 } } } }).anyRateLimit).toBe(true);
    expect(compilePolicies({ defaults: { rateLimit: { ratePerSec: 1, burst: 1 } }, routes: {} }).anyRateLimit).toBe(true);
  });

  it.each([
    [{ sharedRateLimits: 'yes' }, 'fleet.sharedRateLimits'],
    [{ rateIntervalMs: 10 }, 'fleet.rateIntervalMs'],
    [{ rateMaxKeys: MAX_REPORT_KEYS + 1 }, 'fleet.rateMaxKeys'],
    [{ rateMaxRemoteKeys: 0 }, 'fleet.rateMaxRemoteKeys'],
    [{ rateMinShare: 0 }, 'fleet.rateMinShare'],
    [{ rateMinShare: 1.5 }, 'fleet.rateMinShare'],
  ])('refuses %j naming %s', (fleetOptions, key) => {
    expect(() => resolveGatewayConfig({ fleet: fleetOptions as never })).toThrow(ConfigError);
    expect(() => resolveGatewayConfig({ fleet: fleetOptions as never })).toThrow(key);
  });
});

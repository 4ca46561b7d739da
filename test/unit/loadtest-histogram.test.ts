import { describe, expect, it } from 'vitest';
import { LatencyHistogram, MAX_TRACKABLE_US } from '../../src/loadtest/histogram.js';

/** Exact percentile by the nearest-rank rule, for comparison. */
function exact(sorted: number[], p: number): number {
  return sorted[Math.max(0, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

describe('LatencyHistogram', () => {
  it('is empty at first', () => {
    expect(new LatencyHistogram().summary()).toEqual({ count: 0, min: 0, mean: 0, p50: 0, p90: 0, p99: 0, p999: 0, max: 0 });
  });

  it('gives percentiles within 0.1% of the exact ones, across magnitudes', () => {
    const h = new LatencyHistogram();
    // Deterministic spread from 0.05 ms to about 5 s.
    const values = Array.from({ length: 20_000 }, (_, i) => 0.05 * Math.pow(1.0006, i));
    for (const v of values) h.record(v);
    const sorted = [...values].sort((a, b) => a - b);
    for (const p of [50, 90, 99, 99.9]) {
      const want = exact(sorted, p);
      expect(Math.abs(h.percentile(p) - want) / want).toBeLessThan(0.001);
    }
    const s = h.summary();
    expect(s.count).toBe(20_000);
    expect(Math.abs(s.max - sorted.at(-1)!) / sorted.at(-1)!).toBeLessThan(0.001);
    expect(Math.abs(s.min - 0.05) / 0.05).toBeLessThan(0.01);
  });

  it('adds histograms and resets', () => {
    const a = new LatencyHistogram();
    const b = new LatencyHistogram();
    for (let i = 1; i <= 100; i++) a.record(1);
    for (let i = 1; i <= 100; i++) b.record(100);
    a.add(b);
    expect(a.count).toBe(200);
    expect(a.percentile(50)).toBeCloseTo(1, 2);
    expect(a.percentile(99)).toBeCloseTo(100, 0);
    a.reset();
    expect(a.count).toBe(0);
  });

  it('holds zero and negative latencies as 1 µs and clamps over an hour', () => {
    const h = new LatencyHistogram();
    h.record(0);
    h.record(-3);
    h.record(2 * 3_600_000);
    expect(h.count).toBe(3);
    expect(h.clamped).toBe(1);
    expect(h.summary().min).toBe(0.001);
    expect(Math.abs(h.summary().max - MAX_TRACKABLE_US / 1000) / (MAX_TRACKABLE_US / 1000)).toBeLessThan(0.001);
  });
});

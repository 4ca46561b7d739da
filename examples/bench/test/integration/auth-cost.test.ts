import { describe, expect, it } from 'vitest';
import { runAuthCost } from '../../src/auth-cost.js';
import { geometricMean } from '../../src/processes.js';

/**
 * The auth scenario on real gateway and service processes, scaled down: its
 * runs are spread over pairs of gateways set up afresh, the auth side first
 * in one pair and second in the next, and its ratio is the geometric mean of
 * the pairs' own ratios.
 */
describe('auth cost scenario', () => {
  it('measures each pair of gateways apart, the side set up first alternating, and combines them by geometric mean', async () => {
    const lines: string[] = [];
    const r = await runAuthCost({ quick: true, log: (line) => lines.push(line) }, { pairs: 2, runs: 2, requests: 1_000, concurrency: 8, connections: 2, warmUpMs: 0 });
    expect(r.pairs?.map((p) => p.first)).toEqual(['on', 'off']);
    expect(r.samples.on).toHaveLength(4);
    expect(r.samples.off).toHaveLength(4);
    for (const rate of [...r.samples.on, ...r.samples.off]) expect(rate).toBeGreaterThan(0);
    // Each pair's ratio is its own runs' medians (two runs a side: the mean of the two).
    const pairRatio = (i: number) => (r.samples.on[2 * i]! + r.samples.on[2 * i + 1]!) / (r.samples.off[2 * i]! + r.samples.off[2 * i + 1]!);
    expect(r.pairs![0]!.ratio).toBeCloseTo(pairRatio(0), 10);
    expect(r.pairs![1]!.ratio).toBeCloseTo(pairRatio(1), 10);
    expect(r.ratio).toBeCloseTo(geometricMean([pairRatio(0), pairRatio(1)]), 10);
    expect(r.gatewayCpuPerRequest?.on).toBeGreaterThan(0);
    expect(r.gatewayCpuPerRequest?.off).toBeGreaterThan(0);
    expect(lines.filter((l) => l.startsWith('pair '))).toEqual([expect.stringMatching(/^pair 1\/2 \(auth side set up first\)/), expect.stringMatching(/^pair 2\/2 \(auth-off side set up first\)/)]);
  }, 120_000);

  it('refuses an odd number of pairs or of runs, which would let one side be set up first, or go first, more often', async () => {
    const ctx = { quick: true, log: () => {} };
    await expect(runAuthCost(ctx, { pairs: 3 })).rejects.toThrow('auth cost: pairs must be even and at least 2 (each side set up first as often as second), got 3');
    await expect(runAuthCost(ctx, { runs: 3 })).rejects.toThrow("auth cost: runs must be even and at least 2 (each side going first in half of a pair's runs), got 3");
  });
});

/**
 * GcPauses: the young-generation collections this thread really runs are
 * counted with their durations, and nothing is counted once stopped.
 */
import { describe, expect, it } from 'vitest';
import { GcPauses } from '../../src/gc-pauses.js';

/** Allocates short-lived objects (about 3 MB a round) until `done()`, yielding a turn between rounds so observer entries arrive; at most `rounds` rounds. */
async function allocateUntil(done: () => boolean, rounds: number): Promise<void> {
  let keep: unknown[] = [];
  for (let r = 0; r < rounds && !done(); r++) {
    for (let i = 0; i < 100_000; i++) {
      keep.push({ i });
      if (keep.length > 1_000) keep = [];
    }
    await new Promise((resolve) => setImmediate(resolve));
  }
}

describe('GcPauses', () => {
  it('counts the scavenges that run while it watches, with their durations, and none after stop', async () => {
    const pauses = new GcPauses();
    expect(pauses.stats.young).toEqual({ count: 0, totalMs: 0, p50: 0, p99: 0, max: 0 });
    pauses.start();
    // The young generation is at most a few tens of MB: 200 rounds of ~3 MB fill it several times over.
    await allocateUntil(() => pauses.stats.young.count >= 2, 200);
    const young = pauses.stats.young;
    expect(young.count).toBeGreaterThanOrEqual(2);
    expect(young.totalMs).toBeGreaterThan(0);
    expect(young.max).toBeGreaterThanOrEqual(young.p50);
    expect(young.p99).toBeLessThanOrEqual(young.max);
    pauses.stop();
    const stopped = pauses.stats.young.count;
    await allocateUntil(() => false, 20);
    expect(pauses.stats.young.count).toBe(stopped);
  });
});

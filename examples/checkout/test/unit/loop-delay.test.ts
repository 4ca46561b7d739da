/**
 * The event-loop delay orders.stats reports is the loop's lateness beyond
 * the monitor's sampling interval: a sample of exactly the interval is 0,
 * and a thread blocked for a known time reads at least that time less the
 * interval (the block is a lower bound on the gap between two samples).
 */
import { describe, expect, it } from 'vitest';
import { LOOP_DELAY_RESOLUTION_MS, lateMs, loopLateness, startLoopDelay } from '../../src/loop-delay.js';

describe('loop delay', () => {
  it('takes the sampling interval off each sample', () => {
    expect(lateMs(LOOP_DELAY_RESOLUTION_MS * 1e6)).toBe(0);
    expect(lateMs(9.1e6)).toBe(0);
    expect(lateMs(17.6e6)).toBe(7.6);
    expect(lateMs(113.14e6)).toBe(103.1);
  });

  it('reads a blocked loop as late by the block less the interval', async () => {
    const h = startLoopDelay();
    try {
      // Let the monitor take a first sample, then block the thread for 60 ms.
      while (h.count < 1) await new Promise((r) => setTimeout(r, LOOP_DELAY_RESOLUTION_MS));
      const until = performance.now() + 60;
      while (performance.now() < until);
      const seen = h.count;
      while (h.count <= seen) await new Promise((r) => setTimeout(r, LOOP_DELAY_RESOLUTION_MS));
      expect(loopLateness(h).max).toBeGreaterThanOrEqual(60 - LOOP_DELAY_RESOLUTION_MS);
      expect(loopLateness(h).max).toBe(lateMs(h.max));
    } finally {
      h.disable();
    }
  });
});

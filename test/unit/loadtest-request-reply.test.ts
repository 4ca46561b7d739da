import { describe, expect, it } from 'vitest';
import { SluiceError } from '../../src/errors.js';
import { runRequestReply } from '../../src/loadtest/request-reply.js';
import { RunStats } from '../../src/loadtest/stats.js';
import { ManualClock } from '../helpers/manual-clock.js';

/** A target answering after `latencyMs` of fake time; requests whose index is in `fail` are refused. */
function target(clock: ManualClock, latencyMs: number, fail = new Set<number>()) {
  const calls: Array<{ i: number; at: number }> = [];
  return {
    calls,
    call: (i: number) => {
      calls.push({ i, at: clock.now() });
      return clock.sleep(latencyMs).then(() => {
        if (fail.has(i)) throw new SluiceError('UNAVAILABLE', 'down');
      });
    },
  };
}

async function advanceBy(clock: ManualClock, totalMs: number, stepMs: number): Promise<void> {
  for (let t = 0; t < totalMs; t += stepMs) await clock.advance(stepMs);
}

describe('request-response driver', () => {
  it('open loop: sends at the rate, measures from the schedule and counts errors by code', async () => {
    const clock = new ManualClock(0);
    const stats = new RunStats(0);
    const t = target(clock, 20, new Set([3]));
    const done = runRequestReply({ call: t.call, rate: 100, maxInFlight: 1000, count: 1e9, durationMs: 500, drainMs: 1000, clock, stats });
    await advanceBy(clock, 700, 5);
    const r = await done;
    expect(r).toMatchObject({ end: 'duration', unfinished: 0 });
    expect(t.calls.map((c) => c.at)).toEqual([...Array(50).keys()].map((i) => i * 10));
    expect(stats.sent).toBe(50);
    expect(stats.completed).toBe(49);
    expect(stats.errors.toJSON()).toEqual({ UNAVAILABLE: 1 });
    expect(stats.inFlight).toBe(0);
    expect(stats.latency.percentile(50)).toBeCloseTo(20, 1);
  });

  it('open loop: a stalled target does not slow the schedule; sends over maxInFlight are refused, latency keeps growing', async () => {
    const clock = new ManualClock(0);
    const stats = new RunStats(0);
    const t = target(clock, 1000);
    const done = runRequestReply({ call: t.call, rate: 100, maxInFlight: 10, count: 30, durationMs: 10_000, drainMs: 5000, clock, stats });
    await advanceBy(clock, 2000, 5);
    await done;
    expect(stats.sent).toBe(10);
    expect(stats.errors.toJSON()).toEqual({ MAX_IN_FLIGHT: 20 });
    expect(stats.completed).toBe(10);
  });

  it('closed loop: keeps `concurrency` requests outstanding until the count', async () => {
    const clock = new ManualClock(0);
    const stats = new RunStats(0);
    const t = target(clock, 10);
    const done = runRequestReply({ call: t.call, concurrency: 4, maxInFlight: 1, count: 20, durationMs: 60_000, drainMs: 0, clock, stats });
    await advanceBy(clock, 100, 1);
    const r = await done;
    expect(r.end).toBe('count');
    expect(stats.completed).toBe(20);
    // 4 at a time, 10 ms each: five waves.
    expect([...new Set(t.calls.map((c) => c.at))]).toEqual([0, 10, 20, 30, 40]);
  });

  it('counts requests still open after the drain time as UNFINISHED, and ignores their late answers', async () => {
    const clock = new ManualClock(0);
    const stats = new RunStats(0);
    const t = target(clock, 10_000);
    const done = runRequestReply({ call: t.call, concurrency: 3, maxInFlight: 1, count: 1e9, durationMs: 100, drainMs: 200, clock, stats });
    await advanceBy(clock, 400, 10);
    const r = await done;
    expect(r).toMatchObject({ end: 'duration', unfinished: 3 });
    expect(stats.errors.toJSON()).toEqual({ UNFINISHED: 3 });
    await advanceBy(clock, 10_000, 1000);
    expect(stats.completed).toBe(0);
    expect(stats.inFlight).toBe(0);
  });
});

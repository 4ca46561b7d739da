import { describe, expect, it } from 'vitest';
import { OpenLoopSchedule, runOpenLoop, splitSchedule } from '../../src/loadtest/rate.js';
import { ManualClock } from '../helpers/manual-clock.js';

describe('OpenLoopSchedule', () => {
  it('puts send i at start + i / rate', () => {
    const s = new OpenLoopSchedule(200, 1000);
    expect(s.intervalMs).toBe(5);
    expect([0, 1, 2, 10].map((i) => s.at(i))).toEqual([1000, 1005, 1010, 1050]);
  });

  it('counts the sends due by a time, boundaries included', () => {
    const s = new OpenLoopSchedule(200, 1000);
    expect(s.dueBy(999)).toBe(0);
    expect(s.dueBy(1000)).toBe(1);
    expect(s.dueBy(1004.9)).toBe(1);
    expect(s.dueBy(1005)).toBe(2);
    expect(s.dueBy(2000)).toBe(201);
  });

  it('counts the sends strictly before an end', () => {
    const s = new OpenLoopSchedule(3, 0);
    expect(s.slotsBefore(0)).toBe(0);
    expect(s.slotsBefore(1000)).toBe(3); // 0, 333.3, 666.7
    expect(s.slotsBefore(1000.1)).toBe(4);
  });

  it('refuses rates that are not positive and finite', () => {
    for (const r of [0, -1, Infinity, NaN]) expect(() => new OpenLoopSchedule(r, 0)).toThrow(RangeError);
  });

  it('splits a rate into interleaved schedules', () => {
    const [a, b] = splitSchedule(100, 2, 0);
    expect(a!.ratePerSecond).toBe(50);
    expect([a!.at(0), b!.at(0), a!.at(1), b!.at(1)]).toEqual([0, 10, 20, 30]);
    expect(() => splitSchedule(100, 0, 0)).toThrow(RangeError);
  });
});

describe('runOpenLoop', () => {
  it('fires at the rate for the duration and stops by itself', async () => {
    const clock = new ManualClock(0);
    const fired: Array<[number, number]> = [];
    const done = runOpenLoop({ rate: 100, count: 1e9, durationMs: 1000, clock, fire: (i, at) => fired.push([i, at]) });
    for (let t = 0; t < 1100; t += 5) await clock.advance(5);
    await expect(done).resolves.toEqual({ fired: 100, end: 'duration' });
    expect(fired.map(([i]) => i)).toEqual([...Array(100).keys()]);
    expect(fired.map(([, at]) => at)).toEqual([...Array(100).keys()].map((i) => i * 10));
  });

  it('stops at the count', async () => {
    const clock = new ManualClock(0);
    let n = 0;
    const done = runOpenLoop({ rate: 1000, count: 7, durationMs: 60_000, clock, fire: () => n++ });
    await clock.advance(100);
    await expect(done).resolves.toEqual({ fired: 7, end: 'count' });
    expect(n).toBe(7);
  });

  it('catches up after a stall with the original scheduled times, not later ones', async () => {
    const clock = new ManualClock(0);
    const at: number[] = [];
    const done = runOpenLoop({ rate: 100, count: 10, durationMs: 10_000, clock, fire: (_i, t) => at.push(t) });
    await Promise.resolve();
    expect(at).toEqual([0]);
    // The process stalls for 55 ms: the sends due meanwhile all leave at once, each keeping its slot.
    await clock.advance(55);
    expect(at).toEqual([0, 10, 20, 30, 40, 50]);
    await clock.advance(100);
    await expect(done).resolves.toEqual({ fired: 10, end: 'count' });
    expect(at).toEqual([0, 10, 20, 30, 40, 50, 60, 70, 80, 90]);
  });

  it('stops when aborted', async () => {
    const clock = new ManualClock(0);
    const abort = new AbortController();
    let n = 0;
    const done = runOpenLoop({ rate: 10, count: 1e9, durationMs: 1e9, clock, signal: abort.signal, fire: () => n++ });
    await clock.advance(250);
    abort.abort();
    await clock.advance(100);
    const r = await done;
    expect(r.end).toBe('aborted');
    expect(n).toBe(3);
  });
});

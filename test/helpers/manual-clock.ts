/** A fake clock for load tester unit tests: time moves only when a test says so. */
import type { Clock } from '../../src/loadtest/clock.js';

/**
 * A clock that only moves when told: `sleep` resolves once `advance` has
 * moved time past its deadline, or rejects with an AbortError when its signal aborts. For unit tests.
 */
export class ManualClock implements Clock {
  private time: number;
  private readonly sleepers: Array<{ at: number; resolve: () => void }> = [];

  constructor(start = 0) {
    this.time = start;
  }

  now(): number {
    return this.time;
  }

  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      const abortError = () => Object.assign(new Error('The operation was aborted'), { name: 'AbortError' });
      if (signal?.aborted) return reject(abortError());
      const sleeper = { at: this.time + Math.max(0, ms), resolve };
      this.sleepers.push(sleeper);
      signal?.addEventListener(
        'abort',
        () => {
          const i = this.sleepers.indexOf(sleeper);
          if (i >= 0) this.sleepers.splice(i, 1);
          reject(abortError());
        },
        { once: true },
      );
    });
  }

  /** Moves time forward by `ms`, waking sleepers in deadline order and letting each one's continuation run. */
  async advance(ms: number): Promise<void> {
    const target = this.time + ms;
    for (;;) {
      this.sleepers.sort((a, b) => a.at - b.at);
      const next = this.sleepers[0];
      if (!next || next.at > target) break;
      this.sleepers.shift();
      this.time = Math.max(this.time, next.at);
      next.resolve();
      await flushMicrotasks();
    }
    this.time = target;
    await flushMicrotasks();
  }

  /** Sleepers waiting now (for tests). */
  get pending(): number {
    return this.sleepers.length;
  }
}

async function flushMicrotasks(): Promise<void> {
  for (let i = 0; i < 20; i++) await Promise.resolve();
}

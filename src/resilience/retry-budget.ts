/**
 * A retry budget (Finagle's RetryBudget): retries may add at most `ratio`
 * extra load on top of the original requests, measured over the last
 * `ttlMs`, plus a small floor so that a quiet route can still retry.
 * Isomorphic.
 *
 * Per-call retry limits (maxAttempts) do not stop retry storms: when a
 * dependency is down, every caller retrying 3 times quadruples its load. The
 * budget caps retries for the whole route instead: with ratio 0.2, at most
 * 1 retry per 5 requests, however many callers fail.
 *
 * Accounting: every original request deposits `ratio`, every retry withdraws
 * 1, and each deposit or withdrawal expires `ttlMs` after it was made (to
 * within one slot, `ttlMs / slots`, at most 60 slots). The balance is
 *
 *   minRetriesPerSec * ttlMs / 1000  +  deposits - withdrawals in the window
 *
 * and a retry is allowed while it is >= 1. The floor is a reserve for the
 * window, not a rate: it may be spent in one burst, and refills as the
 * withdrawals that spent it expire. Amounts are kept in integer millionths so
 * that 5 deposits of 0.2 make exactly one retry.
 */
import { systemClock, type Clock } from './clock.js';

export interface RetryBudgetOptions {
  /** Retries allowed per original request, 0..1. Default 0.2 (20% extra load at most). */
  ratio: number;
  /** Retries allowed per second even with no requests at all (a reserve of minRetriesPerSec * ttlMs / 1000 per window). Default 5. */
  minRetriesPerSec: number;
  /** How long a deposit or withdrawal counts, in ms (the window). 1..3600000. Default 10000. */
  ttlMs: number;
}

export const defaultRetryBudgetOptions: RetryBudgetOptions = { ratio: 0.2, minRetriesPerSec: 5, ttlMs: 10_000 };

const UNIT = 1_000_000;
const MAX_SLOTS = 60;

export class RetryBudget {
  readonly options: RetryBudgetOptions;
  /** `requests`: recorded originals; `retries`: withdrawals granted; `exhausted`: withdrawals refused. */
  readonly counters = { requests: 0, retries: 0, exhausted: 0 };

  private readonly deposit: number;
  private readonly reserve: number;
  private readonly slotMs: number;
  /** Net amount (deposits - withdrawals, in millionths) per slot, and the slot number each holds. */
  private readonly sums: number[];
  private readonly slotOf: number[];

  constructor(options: Partial<RetryBudgetOptions> = {}, private readonly clock: Clock = systemClock) {
    const o = { ...defaultRetryBudgetOptions, ...options };
    if (!(o.ratio >= 0 && o.ratio <= 1)) throw new RangeError(`retry budget: ratio must be from 0 to 1, got ${o.ratio}`);
    if (!(Number.isFinite(o.minRetriesPerSec) && o.minRetriesPerSec >= 0)) throw new RangeError(`retry budget: minRetriesPerSec must be a finite number >= 0, got ${o.minRetriesPerSec}`);
    if (!(Number.isInteger(o.ttlMs) && o.ttlMs >= 1 && o.ttlMs <= 3_600_000)) throw new RangeError(`retry budget: ttlMs must be an integer from 1 to 3600000, got ${o.ttlMs}`);
    this.options = Object.freeze(o);
    this.deposit = Math.round(o.ratio * UNIT);
    this.reserve = Math.floor(o.minRetriesPerSec * (o.ttlMs / 1000) * UNIT);
    const slots = Math.min(MAX_SLOTS, Math.ceil(o.ttlMs / 1000));
    this.slotMs = o.ttlMs / slots;
    this.sums = new Array<number>(slots).fill(0);
    this.slotOf = new Array<number>(slots).fill(-Infinity);
  }

  /** An original (non-retry) request: deposits `ratio`. */
  recordRequest(): void {
    this.counters.requests++;
    this.add(this.deposit);
  }

  /** A retry: withdraws 1 and returns true, or returns false (and withdraws nothing) when the budget is spent. */
  tryWithdraw(): boolean {
    if (this.balance() < UNIT) {
      this.counters.exhausted++;
      return false;
    }
    this.counters.retries++;
    this.add(-UNIT);
    return true;
  }

  /** Retries the budget allows right now (whole retries, rounded down). */
  available(): number {
    return Math.max(0, Math.floor(this.balance() / UNIT));
  }

  private balance(): number {
    const now = this.slotNumber();
    let sum = this.reserve;
    for (let i = 0; i < this.sums.length; i++) {
      if (now - this.slotOf[i]! < this.sums.length) sum += this.sums[i]!;
    }
    return sum;
  }

  private add(amount: number): void {
    const slot = this.slotNumber();
    const i = ((slot % this.sums.length) + this.sums.length) % this.sums.length;
    if (this.slotOf[i] !== slot) {
      this.slotOf[i] = slot;
      this.sums[i] = 0;
    }
    this.sums[i]! += amount;
  }

  private slotNumber(): number {
    return Math.floor(this.clock() / this.slotMs);
  }
}

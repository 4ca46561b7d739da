/**
 * A token bucket: holds up to `burst` tokens, refills continuously at
 * `ratePerSec`, and each admitted unit of work takes tokens. Allows short
 * bursts of `burst` and a sustained `ratePerSec`. Refill is computed lazily
 * from the clock at each `take`, so an idle bucket costs nothing. Isomorphic.
 */
import { systemClock, type Clock } from './clock.js';

export interface TokenBucketOptions {
  /** Tokens added per second (sustained rate). > 0. */
  ratePerSec: number;
  /** Most tokens the bucket holds (largest burst); a new bucket starts full. >= 1. */
  burst: number;
}

export type TakeResult = { ok: true } | { ok: false; retryAfterMs: number };

const OK: TakeResult = Object.freeze({ ok: true });

export class TokenBucket {
  /** The bucket as configured; `ratePerSec` may be lowered for a while by `setRate`. */
  readonly options: TokenBucketOptions;
  private tokens: number;
  private refilledAt: number;
  private rate: number;

  constructor(options: TokenBucketOptions, private readonly clock: Clock = systemClock) {
    validateBucketOptions(options);
    this.options = Object.freeze({ ratePerSec: options.ratePerSec, burst: options.burst });
    this.rate = options.ratePerSec;
    this.tokens = options.burst;
    this.refilledAt = clock();
  }

  /** The refill rate in effect, tokens per second: `options.ratePerSec` unless `setRate` changed it. */
  get ratePerSec(): number {
    return this.rate;
  }

  /**
   * Changes the refill rate from now on (tokens already refilled at the old
   * rate are kept). Used by a fleet to give this bucket its share of a
   * limit; never above the configured rate, so a caller of `setRate` can
   * only make the bucket stricter. `ratePerSec` must be > 0.
   */
  setRate(ratePerSec: number): void {
    if (!(Number.isFinite(ratePerSec) && ratePerSec > 0)) throw new RangeError(`token bucket: setRate needs a finite rate > 0, got ${ratePerSec}`);
    this.refill();
    this.rate = Math.min(ratePerSec, this.options.ratePerSec);
  }

  /**
   * Takes `n` tokens (default 1) if the bucket holds them. Otherwise takes
   * nothing and tells when `n` tokens will be there: `retryAfterMs` is that
   * time in ms, rounded up. `n` must be 1..burst (more could never succeed).
   */
  take(n = 1): TakeResult {
    if (!(n > 0 && n <= this.options.burst)) throw new RangeError(`token bucket: take(n) needs 0 < n <= burst (${this.options.burst}), got ${n}`);
    this.refill();
    if (this.tokens >= n) {
      this.tokens -= n;
      return OK;
    }
    return { ok: false, retryAfterMs: Math.max(1, Math.ceil(((n - this.tokens) * 1000) / this.rate)) };
  }

  /** Tokens available now (fractional between refills). */
  available(): number {
    this.refill();
    return this.tokens;
  }

  /** Whether the bucket is full, i.e. indistinguishable from a new one. */
  isFull(): boolean {
    return this.available() >= this.options.burst;
  }

  private refill(): void {
    const now = this.clock();
    const elapsed = now - this.refilledAt;
    this.refilledAt = now;
    if (elapsed > 0) this.tokens = Math.min(this.options.burst, this.tokens + (elapsed * this.rate) / 1000);
  }
}

export function validateBucketOptions(options: TokenBucketOptions): void {
  if (!(Number.isFinite(options.ratePerSec) && options.ratePerSec > 0)) throw new RangeError(`token bucket: ratePerSec must be a finite number > 0, got ${options.ratePerSec}`);
  if (!(Number.isFinite(options.burst) && options.burst >= 1)) throw new RangeError(`token bucket: burst must be a finite number >= 1, got ${options.burst}`);
}

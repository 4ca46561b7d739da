/**
 * One token bucket per key (client, tenant, route...), in a bounded map.
 * Isomorphic.
 *
 * Memory is bounded by `maxKeys`: a new key arriving when the map is full
 * evicts the least recently used one. A full bucket is equivalent to a fresh
 * one (a new bucket starts full), so evicting a key that has been idle for at
 * least `burst / ratePerSec` seconds loses nothing: if it comes back it gets
 * exactly the burst it would have had. Only when more than `maxKeys` keys are
 * active at once does an evicted key come back with a fresh burst earlier than
 * it would have; `counters.evictedActive` counts those, and a non-zero value
 * means `maxKeys` is too small for the traffic.
 */
import { systemClock, type Clock } from './clock.js';
import { TokenBucket, validateBucketOptions, type TakeResult, type TokenBucketOptions } from './token-bucket.js';

export interface KeyedRateLimiterOptions extends TokenBucketOptions {
  /** Keys tracked at once; the least recently used is evicted beyond it. Default 10000. */
  maxKeys: number;
}

export class KeyedRateLimiter {
  readonly options: KeyedRateLimiterOptions;
  /**
   * `allowed` / `limited`: take results; `evictions`: keys evicted to stay
   * within `maxKeys`; `evictedActive`: evicted keys whose bucket was not yet
   * full (state actually lost, see the module comment).
   */
  readonly counters = { allowed: 0, limited: 0, evictions: 0, evictedActive: 0 };
  /** Map iteration order is insertion order: re-inserting on use keeps the least recently used first. */
  private readonly buckets = new Map<string, TokenBucket>();

  constructor(
    options: TokenBucketOptions & { maxKeys?: number },
    private readonly clock: Clock = systemClock,
  ) {
    validateBucketOptions(options);
    const maxKeys = options.maxKeys ?? 10_000;
    if (!Number.isInteger(maxKeys) || maxKeys < 1) throw new RangeError(`rate limiter: maxKeys must be an integer >= 1, got ${maxKeys}`);
    this.options = Object.freeze({ ratePerSec: options.ratePerSec, burst: options.burst, maxKeys });
  }

  /** Keys tracked now (at most `maxKeys`). */
  get size(): number {
    return this.buckets.size;
  }

  /** Takes one token from `key`'s bucket; see TokenBucket.take. */
  take(key: string): TakeResult {
    let bucket = this.buckets.get(key);
    if (bucket) {
      this.buckets.delete(key);
    } else {
      if (this.buckets.size >= this.options.maxKeys) this.evictOldest();
      bucket = new TokenBucket(this.options, this.clock);
    }
    this.buckets.set(key, bucket);
    const result = bucket.take();
    if (result.ok) this.counters.allowed++;
    else this.counters.limited++;
    return result;
  }

  private evictOldest(): void {
    const oldest = this.buckets.entries().next();
    if (oldest.done) return;
    const [key, bucket] = oldest.value;
    this.buckets.delete(key);
    this.counters.evictions++;
    if (!bucket.isFull()) this.counters.evictedActive++;
  }
}

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
 *
 * A fleet of gateways shares a limit by lowering each key's refill rate to
 * this gateway's share of it (`setRate`), from the takes it reads with
 * `sweep`; both only visit keys taken from since the last sweep or whose rate
 * is lowered, so a sweep costs the active keys, not every key held.
 */
import { systemClock, type Clock } from './clock.js';
import { TokenBucket, validateBucketOptions, type TakeResult, type TokenBucketOptions } from './token-bucket.js';

export interface KeyedRateLimiterOptions extends TokenBucketOptions {
  /** Keys tracked at once; the least recently used is evicted beyond it. Default 10000. */
  maxKeys: number;
}

/** One key's takes since the last sweep (admitted and refused), and the refill rate its bucket has now. */
export interface KeyActivity {
  key: string;
  /** The key's `tagOf` value, computed once per bucket and kept with it. */
  tag: string;
  takes: number;
  ratePerSec: number;
}

interface Entry {
  bucket: TokenBucket;
  /** Takes since the last sweep, admitted or not: what the caller asked for here. */
  takes: number;
  tag: string | undefined;
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
  private readonly buckets = new Map<string, Entry>();
  /** Keys taken from since the last sweep (a subset of `buckets`). */
  private readonly touched = new Set<string>();
  /** Keys whose refill rate is below the configured one (a subset of `buckets`). */
  private readonly lowered = new Set<string>();
  /** Whether anyone sweeps: `touched` is kept only from the first sweep on, so a limiter outside a fleet holds no second set of its keys. */
  private sweeping = false;

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
    let entry = this.buckets.get(key);
    if (entry) {
      this.buckets.delete(key);
    } else {
      if (this.buckets.size >= this.options.maxKeys) this.evictOldest();
      entry = { bucket: new TokenBucket(this.options, this.clock), takes: 0, tag: undefined };
    }
    this.buckets.set(key, entry);
    entry.takes++;
    if (this.sweeping) this.touched.add(key);
    const result = entry.bucket.take();
    if (result.ok) this.counters.allowed++;
    else this.counters.limited++;
    return result;
  }

  /**
   * The keys taken from since the last sweep and the keys whose rate is
   * lowered, with their takes since then; their take counts start again
   * from 0. `tagOf` names a key for a fleet (computed once per bucket). At
   * most `maxKeys` entries.
   */
  sweep(tagOf: (key: string) => string): KeyActivity[] {
    const out: KeyActivity[] = [];
    const visit = (key: string) => {
      const entry = this.buckets.get(key);
      if (!entry) return;
      entry.tag ??= tagOf(key);
      out.push({ key, tag: entry.tag, takes: entry.takes, ratePerSec: entry.bucket.ratePerSec });
      entry.takes = 0;
    };
    // The first sweep finds the keys taken from so far by walking them all, once.
    const touched = this.sweeping ? this.touched : new Set([...this.buckets].filter(([, e]) => e.takes > 0).map(([key]) => key));
    this.sweeping = true;
    for (const key of touched) visit(key);
    for (const key of this.lowered) if (!touched.has(key)) visit(key);
    this.touched.clear();
    return out;
  }

  /**
   * Sets `key`'s refill rate, at most the configured `ratePerSec` (a fleet's
   * share of the limit; the configured rate restores it). False when the
   * key holds no bucket (evicted, or never taken from).
   */
  setRate(key: string, ratePerSec: number): boolean {
    const entry = this.buckets.get(key);
    if (!entry) return false;
    entry.bucket.setRate(ratePerSec);
    if (entry.bucket.ratePerSec < this.options.ratePerSec) this.lowered.add(key);
    else this.lowered.delete(key);
    return true;
  }

  /** Keys whose refill rate is below the configured one now. */
  get loweredKeys(): number {
    return this.lowered.size;
  }

  private evictOldest(): void {
    const oldest = this.buckets.entries().next();
    if (oldest.done) return;
    const [key, entry] = oldest.value;
    this.buckets.delete(key);
    this.touched.delete(key);
    this.lowered.delete(key);
    this.counters.evictions++;
    if (!entry.bucket.isFull()) this.counters.evictedActive++;
  }
}

/**
 * Verified bearer tokens of the HTTP bridge, remembered. An RSocket
 * connection verifies its token once, at SETUP; an HTTP caller presents it
 * on every request, and a JWT signature check per request costs more than
 * the rest of the request's gateway work. So the bridge keeps what it
 * verified, keyed by the token's SHA-256 (the token itself is not kept):
 *
 * - bounded: at most `maxEntries`, the least recently used dropped first;
 * - never past the token: an entry is used only before the token's `exp`
 *   (and at most `maxAgeMs` after it was verified, for tokens without one);
 *   after that the token is verified again, and refused if expired;
 * - forgotten at key rotation: `clear()` (the gateway calls it on
 *   `reload()`) drops every entry, and a verification that started before
 *   the clear is not stored, since it used the old keys.
 *
 * Refusals are not cached: a bad token costs a verification each time, as
 * it did before.
 */
import { createHash } from 'node:crypto';

export interface TokenCacheOptions {
  /** Entries at most; 0 caches nothing. Default 10000 (`http.tokenCacheEntries`). */
  maxEntries: number;
  /** Longest an entry is used after its verification, in ms, even for a token without `exp`. Default 60000 (`http.tokenCacheMaxAgeMs`). */
  maxAgeMs: number;
  /** Time source, in epoch ms. Default Date.now. */
  now?: () => number;
}

interface Entry<T> {
  readonly value: T;
  /** Epoch ms from which the entry is no longer used. */
  readonly until: number;
}

export class TokenCache<T> {
  private readonly entries = new Map<string, Entry<T>>();
  private readonly now: () => number;
  private gen = 0;
  /** Lookups answered from the cache, and lookups that were not (counted for /metrics). */
  hits = 0;
  misses = 0;

  constructor(private readonly options: TokenCacheOptions) {
    this.now = options.now ?? Date.now;
  }

  /** Entries held now. */
  get size(): number {
    return this.entries.size;
  }

  /** Changes at every clear: pass the value read before verifying to `set`. */
  get generation(): number {
    return this.gen;
  }

  /** What `token` was verified as, while that still holds; undefined otherwise. */
  get(token: string): T | undefined {
    if (this.options.maxEntries === 0) return undefined;
    const key = keyOf(token);
    const entry = this.entries.get(key);
    if (!entry || entry.until <= this.now()) {
      if (entry) this.entries.delete(key);
      this.misses++;
      return undefined;
    }
    // Most recently used last: eviction takes the first.
    this.entries.delete(key);
    this.entries.set(key, entry);
    this.hits++;
    return entry.value;
  }

  /**
   * Remembers `token` as `value` until `expiresAt` (epoch ms; undefined: no
   * `exp`), unless the cache was cleared since `generation` was read.
   */
  set(token: string, value: T, expiresAt: number | undefined, generation: number): void {
    if (this.options.maxEntries === 0 || generation !== this.gen) return;
    const now = this.now();
    const until = Math.min(expiresAt ?? Infinity, now + this.options.maxAgeMs);
    if (until <= now) return;
    const key = keyOf(token);
    this.entries.delete(key);
    this.entries.set(key, { value, until });
    while (this.entries.size > this.options.maxEntries) this.entries.delete(this.entries.keys().next().value!);
  }

  /** Forgets everything (the verification keys changed). */
  clear(): void {
    this.entries.clear();
    this.gen++;
  }
}

function keyOf(token: string): string {
  return createHash('sha256').update(token).digest('base64url');
}

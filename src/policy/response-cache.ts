/**
 * Cached answers of idempotent request-response routes (policy `cache`):
 * read-heavy routes answer from the gateway within the time to live, and
 * when the call fails because of the instance side (none serves the route,
 * it failed or went away, its breaker is open, the deadline passed) a stale
 * answer within `staleIfErrorMs` is served instead, marked stale.
 *
 * An answer is keyed by route, the request's data bytes and the caller's
 * permission scope (its grant's call patterns), so a principal never gets an
 * answer cached for a scope it does not hold. Each route's cache is bounded
 * by entries and bytes, least recently used first out; the number of route
 * caches is bounded too. Metadata entries of the request (routing, deadline,
 * tracing) are not part of the key.
 *
 * Cached bytes are memory the gateway holds, so they are charged to the
 * gateway's memory budget (`limits.memoryBudgetBytes`, kind `cache`). They
 * are the first to go when the budget is tight: the budget asks the biggest
 * route cache to evict its least recently used answers before it sheds any
 * live stream or connection, and cached bytes never pause prefetch.
 */
import { createHash } from 'node:crypto';
import type { ErrorCode, SluiceError } from '../errors.js';
import type { Access } from '../auth/permissions.js';
import { decodeFrame } from '../protocol/codec.js';
import { FrameType, type Payload } from '../protocol/frames.js';
import { MimeTypes, MetadataError, decodeComposite, encodeComposite, type MetadataEntry } from '../protocol/metadata.js';
import { systemClock, type Clock } from '../resilience/clock.js';
import type { MemoryBudget, MemoryHolder } from '../rsocket/memory-budget.js';
import type { CachePolicy } from './policy-config.js';
import { copyOf } from '../protocol/copy-bytes.js';

/** Failures after which a stale answer (within `staleIfErrorMs`) is served instead of the error. */
export const STALE_ON: ReadonlySet<ErrorCode> = new Set(['NO_ROUTE', 'UNAVAILABLE', 'CIRCUIT_OPEN', 'DEADLINE_EXCEEDED', 'INTERNAL']);

/** How an answer left the cache, as its `application/x.sluice.cache+json` entry says. */
export type CacheState = 'hit' | 'stale';

/** The content of the cache entry on a cached answer's metadata. */
export interface CacheMark {
  state: CacheState;
  /** Time since the answer was stored, in ms. */
  ageMs: number;
  /** Stale answers: the code of the failure the stale answer stands in for. */
  error?: ErrorCode;
}

interface Entry {
  readonly data: Uint8Array | null;
  readonly metadata: Uint8Array | null;
  readonly bytes: number;
  readonly storedAt: number;
}

/** Per-route counts, read by /metrics. */
export interface CacheCounters {
  hits: number;
  misses: number;
  stale: number;
  stores: number;
  /** Answers dropped to stay within the route's bounds or the gateway's memory budget. */
  evictions: number;
}

/** One route's answers: least recently used first in the map's order. */
export class RouteCache {
  readonly counters: CacheCounters = { hits: 0, misses: 0, stale: 0, stores: 0, evictions: 0 };
  private readonly entries = new Map<string, Entry>();
  private held = 0;
  /** This cache's share of the gateway memory budget, when there is one. */
  private readonly holder: MemoryHolder | undefined;

  constructor(
    readonly route: string,
    readonly policy: CachePolicy,
    private readonly clock: Clock,
    memory?: MemoryBudget,
  ) {
    this.holder = memory?.holder('cache', { reclaim: (bytes) => this.evict(bytes), shed: () => this.evict(Infinity) });
  }

  /** Drops least recently used answers until `bytes` are freed (or none is left). */
  evict(bytes: number): void {
    const target = this.held - bytes;
    for (const [k] of this.entries) {
      if (this.held <= target) break;
      this.remove(k);
      this.counters.evictions++;
    }
  }

  /** Drops every answer and leaves the memory budget (the route's cache is forgotten). */
  release(): void {
    this.entries.clear();
    this.held = 0;
    this.holder?.release();
  }

  get size(): number {
    return this.entries.size;
  }

  get bytes(): number {
    return this.held;
  }

  /** A fresh answer (within `ttlMs`) marked as a hit, or undefined (counted as a miss). */
  fresh(key: string): Payload | undefined {
    const e = this.live(key);
    const age = e ? this.clock() - e.storedAt : Infinity;
    if (!e || age >= this.policy.ttlMs) {
      this.counters.misses++;
      return undefined;
    }
    this.touch(key, e);
    this.counters.hits++;
    return marked(e, { state: 'hit', ageMs: Math.floor(age) });
  }

  /** A stale answer standing in for `error`, or undefined when none is young enough or the error does not allow one. */
  stale(key: string, error: SluiceError): Payload | undefined {
    if (!STALE_ON.has(error.code)) return undefined;
    const e = this.live(key);
    if (!e) return undefined;
    this.touch(key, e);
    this.counters.stale++;
    return marked(e, { state: 'stale', ageMs: Math.floor(this.clock() - e.storedAt), error: error.code });
  }

  /** Stores an answer: a PAYLOAD frame as forwarded, or a payload. Answers over `maxBytes` are not kept. */
  store(key: string, item: Uint8Array | Payload): void {
    const p = item instanceof Uint8Array ? payloadOf(item) : item;
    if (!p) return;
    const bytes = (p.data?.length ?? 0) + (p.metadata?.length ?? 0) + key.length;
    if (bytes > this.policy.maxBytes) return;
    this.remove(key);
    // Copies: the frame may be a view into a socket read buffer.
    this.entries.set(key, { data: p.data ? copyOf(p.data) : null, metadata: p.metadata ? copyOf(p.metadata) : null, bytes, storedAt: this.clock() });
    this.held += bytes;
    this.holder?.add(bytes);
    this.counters.stores++;
    for (const [k] of this.entries) {
      if (this.entries.size <= this.policy.maxEntries && this.held <= this.policy.maxBytes) break;
      this.remove(k);
      this.counters.evictions++;
    }
  }

  /** The entry if it may still serve (fresh or within the stale window); an older one is dropped. */
  private live(key: string): Entry | undefined {
    const e = this.entries.get(key);
    if (!e) return undefined;
    if (this.clock() - e.storedAt < this.policy.ttlMs + this.policy.staleIfErrorMs) return e;
    this.remove(key);
    return undefined;
  }

  private touch(key: string, e: Entry): void {
    this.entries.delete(key);
    this.entries.set(key, e);
  }

  private remove(key: string): void {
    const e = this.entries.get(key);
    if (!e) return;
    this.entries.delete(key);
    this.held -= e.bytes;
    this.holder?.add(-e.bytes);
  }
}

/** One request's view of its route's cache: what the forwarding stores and falls back on. */
export interface CacheTap {
  /** A fresh answer marked as a hit, or undefined (a miss). */
  fresh(): Payload | undefined;
  /** The instance's answer, to keep. */
  store(item: Uint8Array | Payload): void;
  /** A stale answer standing in for `error`, or undefined. */
  stale(error: SluiceError): Payload | undefined;
}

/** The route caches of one gateway, created on first store or lookup of a cached route. */
export class ResponseCaches {
  private readonly routes = new Map<string, RouteCache>();

  /**
   * @param maxRoutes route caches kept at most (default 10,000, the bound of
   *   the other per-route records); beyond, the oldest is dropped.
   * @param memory the gateway's memory budget, charged with every cached
   *   byte and reclaiming them first when tight; none: bounded per route only.
   */
  constructor(
    private readonly maxRoutes = 10_000,
    private readonly clock: Clock = systemClock,
    private readonly memory?: MemoryBudget,
  ) {}

  /** The cache of `route` under `policy`. */
  for(route: string, policy: CachePolicy): RouteCache {
    let c = this.routes.get(route);
    if (!c) {
      if (this.routes.size >= this.maxRoutes) {
        const oldest = this.routes.keys().next().value!;
        this.routes.get(oldest)?.release();
        this.routes.delete(oldest);
      }
      c = new RouteCache(route, policy, this.clock, this.memory);
      this.routes.set(route, c);
    }
    return c;
  }

  all(): IterableIterator<RouteCache> {
    return this.routes.values();
  }

  /** The tap a forwarding of `key` on `route` uses. */
  tap(cache: RouteCache, key: string): CacheTap {
    return { fresh: () => cache.fresh(key), store: (item) => cache.store(key, item), stale: (error) => cache.stale(key, error) };
  }
}

/**
 * The cache key of a request: its data bytes under the caller's scope.
 * Hashed, so a key costs a fixed 64 characters whatever the request size.
 */
export function cacheKey(scope: string, data: Uint8Array | null): string {
  const h = createHash('sha256').update(scope).update('\0');
  if (data) h.update(data);
  return h.digest('hex');
}

/**
 * The permission scope a cached answer belongs to: the grant's call patterns
 * (sorted) and admin flag. Principals with the same grant share answers;
 * open mode (no access control) is one scope.
 */
export function scopeOf(access: Access | undefined): string {
  if (!access) return 'open';
  const grant = access.principal.grant;
  return `${[...grant.call].sort().join(',')}|${grant.admin ? 'admin' : ''}`;
}

/** The cache mark on a payload's metadata, when it has one (for the HTTP bridge's headers and for clients). */
export function readCacheMark(metadata: Uint8Array | null): CacheMark | undefined {
  if (!metadata || metadata.length === 0) return undefined;
  let entries: MetadataEntry[];
  try {
    entries = decodeComposite(metadata);
  } catch {
    return undefined;
  }
  const entry = entries.find((e) => e.mimeType === MimeTypes.CACHE);
  if (!entry) return undefined;
  try {
    return JSON.parse(new TextDecoder().decode(entry.content)) as CacheMark;
  } catch {
    return undefined;
  }
}

function marked(e: Entry, mark: CacheMark): Payload {
  const entry: MetadataEntry = { mimeType: MimeTypes.CACHE, content: new TextEncoder().encode(JSON.stringify(mark)) };
  let entries: MetadataEntry[] = [];
  if (e.metadata && e.metadata.length > 0) {
    try {
      entries = decodeComposite(e.metadata);
    } catch (err) {
      // A service's own non-composite metadata cannot carry the mark beside it: the mark alone is sent.
      if (!(err instanceof MetadataError)) throw err;
    }
  }
  return { data: e.data, metadata: encodeComposite([...entries.filter((x) => x.mimeType !== MimeTypes.CACHE), entry]) };
}

function payloadOf(frame: Uint8Array): Payload | undefined {
  const f = decodeFrame(frame);
  return f.type === FrameType.PAYLOAD ? { data: f.data, metadata: f.metadata } : undefined;
}

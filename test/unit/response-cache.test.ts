import { describe, expect, it } from 'vitest';
import { SluiceError } from '../../src/errors.js';
import { Access } from '../../src/auth/permissions.js';
import { RouteCache, ResponseCaches, cacheKey, readCacheMark, scopeOf } from '../../src/policy/response-cache.js';
import { compilePolicies } from '../../src/policy/policy-config.js';
import { encodePayloadFrame } from '../../src/protocol/codec.js';
import { Flags, FrameType } from '../../src/protocol/frames.js';
import { MimeTypes, decodeComposite, encodeComposite } from '../../src/protocol/metadata.js';
import { MemoryBudget } from '../../src/rsocket/memory-budget.js';

const bytes = (s: string) => new TextEncoder().encode(s);

function cache(policy: Partial<{ ttlMs: number; staleIfErrorMs: number; maxEntries: number; maxBytes: number }> = {}) {
  let now = 0;
  const c = new RouteCache('r', { ttlMs: 100, staleIfErrorMs: 0, maxEntries: 1000, maxBytes: 1 << 20, ...policy }, () => now);
  return { c, advance: (ms: number) => (now += ms) };
}

describe('RouteCache', () => {
  it('serves within the TTL, marks hits with their age, and misses after', () => {
    const { c, advance } = cache({ ttlMs: 100 });
    expect(c.fresh('k')).toBeUndefined();
    c.store('k', { data: bytes('"a"'), metadata: null });
    advance(40);
    const hit = c.fresh('k')!;
    expect(new TextDecoder().decode(hit.data!)).toBe('"a"');
    expect(readCacheMark(hit.metadata)).toEqual({ state: 'hit', ageMs: 40 });
    advance(60);
    expect(c.fresh('k')).toBeUndefined();
    expect(c.counters).toMatchObject({ hits: 1, misses: 2, stores: 1 });
  });

  it('stands in for instance-side failures within staleIfErrorMs only', () => {
    const { c, advance } = cache({ ttlMs: 10, staleIfErrorMs: 50 });
    c.store('k', encodePayloadFrame(FrameType.PAYLOAD, 3, Flags.NEXT | Flags.COMPLETE, { data: bytes('1'), metadata: null }));
    advance(30);
    expect(c.stale('k', new SluiceError('INVALID_ARGUMENT', 'bad'))).toBeUndefined();
    expect(c.stale('k', new SluiceError('PERMISSION_DENIED', 'no'))).toBeUndefined();
    const stale = c.stale('k', new SluiceError('UNAVAILABLE', 'gone'))!;
    expect(readCacheMark(stale.metadata)).toEqual({ state: 'stale', ageMs: 30, error: 'UNAVAILABLE' });
    for (const code of ['NO_ROUTE', 'CIRCUIT_OPEN', 'DEADLINE_EXCEEDED', 'INTERNAL'] as const) expect(c.stale('k', new SluiceError(code, 'x'))).toBeDefined();
    advance(30);
    expect(c.stale('k', new SluiceError('UNAVAILABLE', 'gone'))).toBeUndefined();
    expect(c.size).toBe(0);
  });

  it('keeps the service\'s own metadata entries beside the mark', () => {
    const { c } = cache();
    c.store('k', { data: bytes('1'), metadata: encodeComposite([{ mimeType: 'text/plain', content: bytes('x') }]) });
    const mimes = decodeComposite(c.fresh('k')!.metadata!).map((e) => e.mimeType);
    expect(mimes).toEqual(['text/plain', MimeTypes.CACHE]);
  });

  it('drops the least recently used to stay within maxEntries and maxBytes', () => {
    const { c } = cache({ maxEntries: 2 });
    c.store('a', { data: bytes('1'), metadata: null });
    c.store('b', { data: bytes('2'), metadata: null });
    c.fresh('a');
    c.store('c', { data: bytes('3'), metadata: null });
    expect(c.fresh('b')).toBeUndefined();
    expect(c.fresh('a')).toBeDefined();
    expect(c.counters.evictions).toBe(1);

    const small = cache({ maxBytes: 1024 }).c;
    const kb = new Uint8Array(400);
    small.store('x', { data: kb, metadata: null });
    small.store('y', { data: kb, metadata: null });
    small.store('z', { data: kb, metadata: null });
    expect(small.bytes).toBeLessThanOrEqual(1024);
    expect(small.size).toBe(2);
    small.store('huge', { data: new Uint8Array(2048), metadata: null });
    expect(small.fresh('huge')).toBeUndefined();
  });

  it('bounds the number of route caches', () => {
    const caches = new ResponseCaches(2);
    const p = { ttlMs: 1, staleIfErrorMs: 0, maxEntries: 1, maxBytes: 1024 };
    const a = caches.for('a', p);
    caches.for('b', p);
    caches.for('c', p);
    expect([...caches.all()].map((c) => c.route)).toEqual(['b', 'c']);
    expect(caches.for('a', p)).not.toBe(a);
  });
});

describe('cache keys', () => {
  it('separate scopes and data, not principals with the same grant', () => {
    const principal = (id: string, call: string[]) => new Access({ id, subject: id, anonymous: false, grant: { call, service: undefined, register: [], admin: false }, expiresAt: undefined });
    expect(scopeOf(principal('a', ['x.*', 'y'])) === scopeOf(principal('b', ['y', 'x.*']))).toBe(true);
    expect(scopeOf(principal('a', ['x.*'])) === scopeOf(principal('a', ['x.y']))).toBe(false);
    expect(cacheKey('s', bytes('1'))).not.toBe(cacheKey('t', bytes('1')));
    expect(cacheKey('s', bytes('1'))).not.toBe(cacheKey('s', bytes('2')));
    expect(cacheKey('s', null)).toBe(cacheKey('s', new Uint8Array(0)));
  });
});

describe('cache policy', () => {
  it('needs ttlMs and fills the bounds with defaults', () => {
    const t = compilePolicies({ routes: { 'a.b': { cache: { ttlMs: 500 } } } });
    expect(t.for('a.b').cache).toEqual({ ttlMs: 500, staleIfErrorMs: 0, maxEntries: 1000, maxBytes: 1024 * 1024 });
    expect(t.for('a.c').cache).toBeNull();
    expect(() => compilePolicies({ routes: { 'a.b': { cache: { staleIfErrorMs: 5 } } } })).toThrow(`config 'policies.routes.a.b.cache': needs "ttlMs"`);
    expect(() => compilePolicies({ routes: { 'a.b': { cache: { ttlMs: 0 } } } })).toThrow(/cache.ttlMs/);
    expect(() => compilePolicies({ routes: { 'a.b': { cache: { ttlMs: 5, maxBytes: 10 } } } })).toThrow(/cache.maxBytes/);
    expect(() => compilePolicies({ routes: { 'a.b': { cache: { ttlMs: 5, size: 1 } } } })).toThrow(/unknown key/);
    expect(() => compilePolicies({ routes: { 'a.b': { idempotent: false, cache: { ttlMs: 5 } } } })).toThrow(/not idempotent/);
  });

  it('charges cached bytes to the memory budget, gives the least recently used back when asked, and releases a forgotten route', () => {
    const checks: Array<() => void> = [];
    const memory = new MemoryBudget(1_000_000, { schedule: (fn) => checks.push(fn) });
    const caches = new ResponseCaches(1, () => 0, memory);
    const policy = { ttlMs: 1000, staleIfErrorMs: 0, maxEntries: 100, maxBytes: 1 << 20 };
    const c = caches.for('r', policy);
    const answer = { data: new Uint8Array(936), metadata: null };
    for (const k of ['a', 'b', 'c']) c.store(k.repeat(64), answer);
    expect(memory.usedBy('cache')).toBe(3000);
    expect(memory.usedBy('cache')).toBe(c.bytes);
    c.fresh('a'.repeat(64)); // a is now the most recent: b goes first
    c.evict(1500);
    expect(c.size).toBe(1);
    expect(c.fresh('a'.repeat(64))).toBeDefined();
    expect(memory.usedBy('cache')).toBe(1000);
    expect(c.counters.evictions).toBe(2);
    // Only one route cache is kept: the next route's replaces it, and its bytes leave the budget.
    caches.for('s', policy).store('x'.repeat(64), answer);
    expect(memory.usedBy('cache')).toBe(1000);
    expect(memory.used).toBe(1000);
  });
});

/**
 * The per-route response cache over real sockets, for RSocket and the HTTP
 * bridge alike: answers within the TTL come from the gateway, a stale answer
 * stands in while the instance is killed (and an error once the stale window
 * has passed), a failing instance's error is covered the same way, and one
 * permission scope never sees another's answers.
 */
import { describe, expect, it } from 'vitest';
import { SluiceError } from '../../src/errors.js';
import { readCacheMark } from '../../src/policy/response-cache.js';
import { eventually, jsonPayload, json, metricsText, metricValue, recorder, useHarness } from '../helpers/harness.js';
import { mint, secretFile } from '../helpers/auth.js';

const h = useHarness();

const httpUrl = (ws: string) => ws.replace(/^ws/, 'http');

describe('response cache', () => {
  it('answers within the TTL from the gateway, over RSocket and HTTP, marked as hits', async () => {
    const gw = await h.gateway({ policies: { defaults: {}, routes: { 't.stock': { idempotent: true, cache: { ttlMs: 600_000 } } } } });
    let calls = 0;
    await h.service({ url: gw.url, service: 't', instance: 't1', routes: { 't.stock': { requestResponse: (d: { sku: string }) => ({ sku: d.sku, n: ++calls }) } } });
    const conn = await h.raw(gw.url);
    const ask = async (sku: string) => {
      const rec = recorder();
      conn.requestResponse(jsonPayload('t.stock', { sku }), rec.handler);
      expect(await rec.ended).toEqual({});
      return rec.items[0]!;
    };
    const first = await ask('a');
    expect(json(first)).toEqual({ sku: 'a', n: 1 });
    expect(readCacheMark(first.metadata)).toBeUndefined();
    const second = await ask('a');
    expect(json(second)).toEqual({ sku: 'a', n: 1 });
    expect(readCacheMark(second.metadata)).toMatchObject({ state: 'hit' });
    expect(json(await ask('b'))).toEqual({ sku: 'b', n: 2 });

    // HTTP GET of the same data bytes shares the answer (same route, payload and scope: open mode).
    const res = await fetch(`${httpUrl(gw.url)}/v1/routes/t.stock?sku=a`);
    expect(await res.json()).toEqual({ sku: 'a', n: 1 });
    expect(res.headers.get('sluice-cache')).toBe('hit');
    expect(res.headers.get('age')).toMatch(/^\d+$/);
    expect(res.headers.get('cache-control')).toBe('private, max-age=600');
    expect(calls).toBe(2);

    const text = await metricsText(gw);
    expect(metricValue(text, 'sluice_cache_hits_total', { route: 't.stock' })).toBe(2);
    expect(metricValue(text, 'sluice_cache_misses_total', { route: 't.stock' })).toBe(2);
    expect(metricValue(text, 'sluice_cache_entries', { route: 't.stock' })).toBe(2);
  });

  it('serves a stale answer while the instance is killed, then the error once the stale window has passed', async () => {
    const staleIfErrorMs = 4_000;
    const gw = await h.gateway({ policies: { defaults: {}, routes: { 'bench.echo': { cache: { ttlMs: 1, staleIfErrorMs } } } } });
    const child = await h.benchProcess(gw.url, 'bench-1');
    const base = httpUrl(gw.url);
    const fresh = await fetch(`${base}/v1/routes/bench.echo?v=1`);
    expect(await fresh.json()).toEqual({ v: '1' });
    expect(fresh.headers.get('sluice-cache')).toBeNull();

    child.process.kill('SIGKILL');
    await eventually(() => !gw.registry.has('bench.echo'), 'the instance to be gone');
    const stale = await fetch(`${base}/v1/routes/bench.echo?v=1`);
    expect(stale.status).toBe(200);
    expect(await stale.json()).toEqual({ v: '1' });
    expect(stale.headers.get('sluice-cache')).toBe('stale');
    expect(stale.headers.get('warning')).toMatch(/^110 - "Response is Stale"/);

    const conn = await h.raw(gw.url);
    const rec = recorder();
    conn.requestResponse(jsonPayload('bench.echo', { v: '1' }), rec.handler);
    expect(await rec.ended).toEqual({});
    expect(readCacheMark(rec.items[0]!.metadata)).toMatchObject({ state: 'stale', error: 'NO_ROUTE' });

    // Data never cached has nothing to fall back on.
    expect((await fetch(`${base}/v1/routes/bench.echo?v=2`)).status).toBe(404);
    // Past ttlMs + staleIfErrorMs the answer is gone: the caller hears the error.
    await eventually(async () => (await fetch(`${base}/v1/routes/bench.echo?v=1`)).status === 404, 'the stale window to pass', 800, 25);
    expect(metricValue(await metricsText(gw), 'sluice_cache_stale_total', { route: 'bench.echo' })).toBeGreaterThanOrEqual(2);
  });

  it('covers a failing instance with a stale answer naming the failure', async () => {
    const gw = await h.gateway({ policies: { defaults: {}, routes: { 't.stock': { idempotent: true, retry: { maxAttempts: 1 }, cache: { ttlMs: 1, staleIfErrorMs: 600_000 } } } } });
    let failing = false;
    await h.service({
      url: gw.url,
      service: 't',
      instance: 't1',
      routes: {
        't.stock': {
          requestResponse: () => {
            if (failing) throw new SluiceError('UNAVAILABLE', 'store offline');
            return { n: 7 };
          },
        },
      },
    });
    const base = httpUrl(gw.url);
    expect(await (await fetch(`${base}/v1/routes/t.stock`)).json()).toEqual({ n: 7 });
    failing = true;
    const res = await eventually(async () => {
      const r = await fetch(`${base}/v1/routes/t.stock`);
      return r.headers.get('sluice-cache') === 'hit' ? undefined : r;
    }, 'the TTL to pass');
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ n: 7 });
    expect(res.headers.get('sluice-cache')).toBe('stale');
    expect(res.headers.get('warning')).toContain('UNAVAILABLE');
    // A request the cache never saw gets the instance's error.
    const post = await fetch(`${base}/v1/routes/t.stock`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"other":1}' });
    expect(post.status).toBe(503);
  });

  it("answers stale while the route's breaker is open, without calling the instance", async () => {
    const gw = await h.gateway({
      policies: { defaults: {}, routes: { 't.stock': { idempotent: true, retry: { maxAttempts: 1 }, breaker: { windowSize: 2, minimumCalls: 2, openDurationMs: 600_000 }, cache: { ttlMs: 1, staleIfErrorMs: 600_000 } } } },
    });
    let failing = false;
    let calls = 0;
    await h.service({
      url: gw.url,
      service: 't',
      instance: 't1',
      routes: {
        't.stock': {
          requestResponse: () => {
            calls++;
            if (failing) throw new SluiceError('UNAVAILABLE', 'store offline');
            return { n: 7 };
          },
        },
      },
    });
    const base = httpUrl(gw.url);
    expect(await (await fetch(`${base}/v1/routes/t.stock`)).json()).toEqual({ n: 7 });
    failing = true;
    // Failures on data the cache never saw open the breaker (windowSize 2, minimumCalls 2).
    for (const k of [1, 2]) expect((await fetch(`${base}/v1/routes/t.stock?k=${k}`)).status).toBe(503);
    const before = calls;
    const res = await eventually(async () => {
      const r = await fetch(`${base}/v1/routes/t.stock`);
      return r.headers.get('sluice-cache') === 'hit' ? undefined : r;
    }, 'the TTL to pass');
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ n: 7 });
    expect(res.headers.get('sluice-cache')).toBe('stale');
    expect(res.headers.get('warning')).toContain('CIRCUIT_OPEN');
    // The open breaker answered: the instance was not asked.
    expect(calls).toBe(before);
    // Over RSocket the same, marked with the breaker's code.
    const conn = await h.raw(gw.url);
    const rec = recorder();
    conn.requestResponse(jsonPayload('t.stock', {}), rec.handler);
    await rec.ended;
    expect(readCacheMark(rec.items[0]!.metadata)).toMatchObject({ state: 'stale', error: 'CIRCUIT_OPEN' });
    expect(calls).toBe(before);
  });

  it('keeps each permission scope to its own answers', async () => {
    const gw = await h.gateway({
      auth: { secretFile: await secretFile(h), anonymous: { enabled: false } },
      policies: { defaults: {}, routes: { 't.stock': { idempotent: true, cache: { ttlMs: 600_000 } } } },
    });
    let calls = 0;
    const svc = await mint('t', { service: 't', register: ['t.*'] });
    await h.service({ url: gw.url, service: 't', instance: 't1', token: svc, routes: { 't.stock': { requestResponse: () => ({ n: ++calls }) } } });
    const get = async (token: string) => {
      const r = await fetch(`${httpUrl(gw.url)}/v1/routes/t.stock?sku=a`, { headers: { authorization: `Bearer ${token}` } });
      expect(r.status).toBe(200);
      return { body: await r.json(), cache: r.headers.get('sluice-cache') };
    };
    const alice = await mint('alice', { call: ['t.*'] });
    const carol = await mint('carol', { call: ['t.*'] });
    const bob = await mint('bob', { call: ['t.stock'] });
    expect(await get(alice)).toEqual({ body: { n: 1 }, cache: null });
    // Same grant, same scope: the answer is shared.
    expect(await get(carol)).toEqual({ body: { n: 1 }, cache: 'hit' });
    // Another scope never sees it.
    expect(await get(bob)).toEqual({ body: { n: 2 }, cache: null });
    expect(await get(bob)).toEqual({ body: { n: 2 }, cache: 'hit' });
    expect(calls).toBe(2);
  });

  it('charges cached answers to the memory budget and gives them back before shedding a live stream', async () => {
    const limit = 1024 * 1024;
    const gw = await h.gateway({
      limits: { memoryBudgetBytes: limit },
      policies: { defaults: {}, routes: { 'big.get': { idempotent: true, cache: { ttlMs: 600_000, maxEntries: 10_000, maxBytes: 64 * 1024 * 1024 } } } },
    });
    await h.service({ url: gw.url, service: 'big', instance: 'big-1', routes: { 'big.get': { requestResponse: (d: { k: number }) => ({ k: d.k, pad: 'x'.repeat(60_000) }) } } });
    await h.service({ url: gw.url, service: 'bench', instance: 'bench-1' });
    const client = await h.client(gw.url);
    const KINDS = ['prefetch', 'outbound', 'reassembly', 'http', 'cache'];
    const memory = async () => {
      const text = await metricsText(gw);
      const by = Object.fromEntries(KINDS.map((kind) => [kind, metricValue(text, 'sluice_memory_used_bytes', { kind }) ?? 0])) as Record<string, number>;
      return { cache: by.cache!, prefetch: by.prefetch!, total: Object.values(by).reduce((a, b) => a + b, 0), text };
    };
    // 30 answers of 60 kB: more than the whole budget.
    for (let k = 0; k < 30; k++) await client.requestResponse('big.get', { k });
    const full = await memory();
    expect(full.cache).toBeGreaterThan(limit / 2);
    expect(full.total).toBeLessThanOrEqual(limit);
    expect(metricValue(full.text, 'sluice_cache_evictions_total', { route: 'big.get' })).toBeGreaterThan(0);

    // A live stream whose consumer asked for one item: the gateway holds the next one (200 kB) for it.
    const conn = await h.raw(gw.url);
    const rec = recorder();
    const stream = conn.requestStream(jsonPayload('bench.source', { count: 5, size: 200_000 }), 1, rec.handler);
    await rec.received(1);
    const held = await eventually(async () => {
      const m = await memory();
      return m.prefetch > 0 && m;
    }, 'an item held ahead of demand');
    // The cache made room, giving back its least recently used answers, not all of them; the stream was not shed.
    expect(held.cache).toBeLessThan(full.cache);
    expect(held.cache).toBeGreaterThan(full.cache - 2 * 200_000);
    expect(held.total).toBeLessThanOrEqual(limit);
    stream.request(4);
    expect(await rec.ended).toEqual({});
    expect(rec.items).toHaveLength(5);
    const text = (await memory()).text;
    for (const kind of KINDS) expect(metricValue(text, 'sluice_memory_shed_total', { kind })).toBe(0);
  });
});

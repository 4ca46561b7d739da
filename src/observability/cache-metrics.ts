/**
 * Prometheus view of the response cache: hits, misses, stale answers served,
 * stores and evictions per route, and what each route's cache holds. Read
 * from the live caches at scrape time.
 */
import client from 'prom-client';
import type { ResponseCaches, RouteCache } from '../policy/response-cache.js';

export function registerCacheMetrics(registry: client.Registry, caches: ResponseCaches): void {
  const perRoute = (name: string, help: string, read: (c: RouteCache) => number, type: 'counter' | 'gauge') => {
    const Metric = type === 'counter' ? client.Counter : client.Gauge;
    new Metric({
      name,
      help,
      labelNames: ['route'],
      registers: [registry],
      collect(this: client.Counter<'route'> | client.Gauge<'route'>) {
        this.reset();
        for (const c of caches.all()) (this as client.Gauge<'route'>).inc({ route: c.route }, read(c));
      },
    });
  };
  perRoute('sluice_cache_hits_total', 'Request-responses answered from the response cache within the route\'s cache.ttlMs', (c) => c.counters.hits, 'counter');
  perRoute('sluice_cache_misses_total', 'Request-responses on a cached route with no fresh answer held (forwarded to an instance)', (c) => c.counters.misses, 'counter');
  perRoute('sluice_cache_stale_total', 'Stale answers (within cache.staleIfErrorMs) served in place of an instance-side failure', (c) => c.counters.stale, 'counter');
  perRoute('sluice_cache_evictions_total', 'Answers dropped to stay within cache.maxEntries or cache.maxBytes (least recently used first)', (c) => c.counters.evictions, 'counter');
  perRoute('sluice_cache_entries', 'Answers held per route', (c) => c.size, 'gauge');
  perRoute('sluice_cache_bytes', 'Bytes of answers held per route (bounded by cache.maxBytes)', (c) => c.bytes, 'gauge');
}

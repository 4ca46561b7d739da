/**
 * Prometheus metrics of one gateway, on a registry of its own (several
 * gateways in one process, as in tests, do not collide).
 *
 * Hot-path counts (items forwarded) are plain numbers on a per-route record,
 * read by prom-client only at scrape time: counting an item costs one
 * addition, not a label lookup.
 */
import client from 'prom-client';
import { MEMORY_KINDS } from '../rsocket/memory-budget.js';
import { LocalHistogram } from './local-histogram.js';

export type Direction = 'to_requester' | 'to_responder';

export interface RouteCounters {
  readonly route: string;
  toRequester: number;
  toResponder: number;
}

/** Live numbers the gateway reports at scrape time. */
export interface MetricsSource {
  connections(): { client: number; service: number };
  instances(): Map<string, number>;
  /** Per route and model: interactions in flight (`count`) and their outstanding demand, one row each. */
  streams(): Iterable<{ route: string; model: string; count: number; consumerDemand: number; producerDemand: number }>;
  bufferedBytes(): number;
  /** Bytes producers sent ahead of their consumers' demand, held at the gateway. */
  prefetchHeldBytes(): number;
  /** The gateway memory budget: its limit and the bytes held now per kind. */
  memory?(): { limitBytes: number; used: ReadonlyArray<readonly [kind: string, bytes: number]> };
}

const EMPTY: ReadonlyMap<string, number> = new Map();

const DURATION_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

export class GatewayMetrics {
  readonly registry = new client.Registry();
  private readonly routes = new Map<string, RouteCounters>();
  /** Errors per route and code as plain numbers, for the stats stream (prom-client's counter is for scrapes). */
  private readonly errorCounts = new Map<string, Map<string, number>>();
  /**
   * Interactions started per route and model, counted in plain fields per
   * request and handed to the prom-client counter on scrape: its `inc` with
   * labels hashes them into a key on every call, which showed in the
   * gateway's request-response profile. Bounded like the route records.
   */
  private readonly startedCounts = new Map<string, Map<string, number>>();
  private readonly errors: client.Counter<'route' | 'code'>;
  /** Kept in plain arrays per route and model, read by prom-client on scrape (local-histogram.ts). */
  private readonly duration: LocalHistogram;
  private readonly sheds: client.Counter<'kind'>;

  constructor(source: MetricsSource, options: { defaultMetrics?: boolean } = {}) {
    const registers = [this.registry];
    if (options.defaultMetrics !== false) client.collectDefaultMetrics({ register: this.registry, prefix: 'sluice_' });

    new client.Gauge({
      name: 'sluice_connections',
      help: 'Open RSocket connections by role (client or service)',
      labelNames: ['role'],
      registers,
      collect() {
        const c = source.connections();
        this.set({ role: 'client' }, c.client);
        this.set({ role: 'service' }, c.service);
      },
    });
    new client.Gauge({
      name: 'sluice_instances',
      help: 'Registered service instances by service',
      labelNames: ['service'],
      registers,
      collect() {
        this.reset();
        for (const [service, n] of source.instances()) this.set({ service }, n);
      },
    });
    new client.Gauge({
      name: 'sluice_outbound_buffered_bytes',
      help: 'Bytes written to connections and not yet flushed to the OS, summed over connections',
      registers,
      collect() {
        this.set(source.bufferedBytes());
      },
    });
    new client.Gauge({
      name: 'sluice_prefetch_held_bytes',
      help: 'Bytes producers sent ahead of their consumers\' demand and the gateway holds until asked (bounded by flow.prefetchBudgetBytes)',
      registers,
      collect() {
        this.set(source.prefetchHeldBytes());
      },
    });

    new client.Gauge({
      name: 'sluice_memory_used_bytes',
      help: 'Bytes peers make the gateway hold, counted by the memory budget, per kind (reassembly, prefetch, outbound, http, cache)',
      labelNames: ['kind'],
      registers,
      collect() {
        for (const [kind, bytes] of source.memory?.().used ?? []) this.set({ kind }, bytes);
      },
    });
    new client.Gauge({
      name: 'sluice_memory_budget_bytes',
      help: 'The gateway memory budget (limits.memoryBudgetBytes): above it the biggest holders are shed',
      registers,
      collect() {
        const m = source.memory?.();
        if (m) this.set(m.limitBytes);
      },
    });
    this.sheds = new client.Counter({
      name: 'sluice_memory_shed_total',
      help: 'Holders shed by the memory budget, per kind: connections closed (outbound), fragmented payloads dropped (reassembly), streams ended (prefetch)',
      labelNames: ['kind'],
      registers,
    });
    for (const kind of MEMORY_KINDS) this.sheds.inc({ kind }, 0);

    // One pass over the per-route totals feeds both gauges; `active` is registered first so it runs first.
    const active = new client.Gauge({
      name: 'sluice_streams_active',
      help: 'Interactions in flight per route and model',
      labelNames: ['route', 'model'],
      registers,
      collect() {
        this.reset();
        demand.reset();
        for (const s of source.streams()) {
          this.inc({ route: s.route, model: s.model }, s.count);
          demand.inc({ route: s.route, side: 'consumer' }, s.consumerDemand);
          demand.inc({ route: s.route, side: 'producer' }, s.producerDemand);
        }
      },
    });
    const demand = new client.Gauge({
      name: 'sluice_demand_outstanding',
      help: 'Outstanding demand per route: requested by consumers and not delivered (side=consumer, unbounded requests count as 2^31-1), requested from producers and not received (side=producer)',
      labelNames: ['route', 'side'],
      registers,
    });
    void active;
    const routes = this.routes;
    new client.Counter({
      name: 'sluice_items_forwarded_total',
      help: 'Payloads forwarded per route and direction',
      labelNames: ['route', 'direction'],
      registers,
      collect() {
        this.reset();
        for (const r of routes.values()) {
          this.inc({ route: r.route, direction: 'to_requester' }, r.toRequester);
          this.inc({ route: r.route, direction: 'to_responder' }, r.toResponder);
        }
      },
    });
    const startedCounts = this.startedCounts;
    new client.Counter({
      name: 'sluice_interactions_total',
      help: 'Interactions started per route and model',
      labelNames: ['route', 'model'],
      registers,
      collect() {
        this.reset();
        for (const [route, byModel] of startedCounts) {
          for (const [model, n] of byModel) this.inc({ route, model }, n);
        }
      },
    });
    this.errors = new client.Counter({ name: 'sluice_errors_total', help: 'Errors sent to requesters per route and code', labelNames: ['route', 'code'], registers });
    this.duration = new LocalHistogram(
      'sluice_request_duration_seconds',
      'Per route and model: time to the response (request-response) or to the first item or end (stream, channel)',
      DURATION_BUCKETS,
      this.registry,
    );
  }

  /** The counters record for a route; the forwarder keeps it for the stream's life. */
  route(route: string): RouteCounters {
    let r = this.routes.get(route);
    if (!r) {
      // Bounded by the routes instances registered plus the one catch-all below.
      if (this.routes.size >= 10_000) return this.route('(other)');
      r = { route, toRequester: 0, toResponder: 0 };
      this.routes.set(route, r);
    }
    return r;
  }

  /** The memory budget shed one holder of `kind`. */
  shed(kind: string): void {
    this.sheds.inc({ kind });
  }

  started(route: string, model: string): void {
    let byModel = this.startedCounts.get(route);
    if (!byModel) {
      // Same bound as the route records (labels already collapse unknown routes); past it, one catch-all.
      if (this.startedCounts.size >= 10_000 && route !== '(other)') return this.started('(other)', model);
      byModel = new Map();
      this.startedCounts.set(route, byModel);
    }
    byModel.set(model, (byModel.get(model) ?? 0) + 1);
  }

  error(route: string, code: string): void {
    this.errors.inc({ route, code });
    let byCode = this.errorCounts.get(route);
    if (!byCode) {
      // Same bound as the route records: labels already collapse unknown routes.
      if (this.errorCounts.size >= 10_000) return;
      byCode = new Map();
      this.errorCounts.set(route, byCode);
    }
    byCode.set(code, (byCode.get(code) ?? 0) + 1);
  }

  /** Every route's forwarded-item counters (live records, read them, do not keep them). */
  routeCounters(): IterableIterator<RouteCounters> {
    return this.routes.values();
  }

  /** Errors sent to requesters of `route` since start, by code. */
  errorsOf(route: string): ReadonlyMap<string, number> {
    return this.errorCounts.get(route) ?? EMPTY;
  }

  /** Routes that have had at least one error. */
  routesWithErrors(): IterableIterator<string> {
    return this.errorCounts.keys();
  }

  observe(route: string, model: string, seconds: number): void {
    this.duration.observe(this.duration.series(route, model), seconds);
  }

  async text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}

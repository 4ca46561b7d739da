/**
 * Snapshots of the gateway's flow for the `sluice.stats` stream: per route
 * the forwarding rates, interactions in flight, outstanding demand, bytes and
 * frames waiting in consumers' sockets, errors by code and breaker state;
 * plus instances and connections. See docs/protocol.md for the shape.
 *
 * A `StatsSampler` belongs to one subscriber: rates are computed from the
 * counters' change since that subscriber's previous snapshot, so sampling
 * costs nothing between snapshots and subscribers do not disturb each other.
 */
import type { BreakerState, BreakerStateOf } from '../resilience/breaker-state.js';

export interface RouteStats {
  route: string;
  /** Payloads forwarded per second since the subscriber's previous snapshot, per direction. */
  ratePerSec: { toRequester: number; toResponder: number };
  /** Interactions open now. */
  inFlight: number;
  /**
   * Outstanding demand summed over the route's streams: `consumer` = requested
   * by consumers and not delivered (an unbounded request counts 2^31-1),
   * `producer` = requested from producers and not received (at most the window per stream).
   */
  demand: { consumer: number; producer: number };
  /**
   * What waits at the gateway for this route's consumers: items producers
   * sent ahead of demand (prefetch, held until the consumer asks; at most the
   * window per stream), plus what waits in the consumers' connections, written
   * and not yet taken by the socket (`bytes` exactly, `items` estimated as
   * those bytes over the route's average item size; counted per connection:
   * one carrying several routes counts toward each of them).
   */
  buffered: { items: number; bytes: number };
  /** Errors sent to requesters of this route since the gateway started, by code. */
  errors: Record<string, number>;
  breaker: BreakerState;
}

export interface InstanceStats {
  service: string;
  instance: string;
  routes: string[];
  /** Interactions forwarded to the instance and not finished. */
  active: number;
}

/** A durable route's queue (docs/resilience.md#durable-routes). */
export interface DurableStats {
  route: string;
  /** Commands persisted and not yet acknowledged by a service. */
  depth: number;
  /** Age of the oldest of them, in ms (0 when none). */
  oldestAgeMs: number;
  /** Commands sent to instances and not yet acknowledged. */
  inFlight: number;
  /** Deliveries after the first, since the gateway started. */
  redeliveries: number;
  /** Commands dead-lettered after their last delivery, since the gateway started. */
  deadLettered: number;
}

export interface StatsSnapshot {
  /** Epoch ms when the snapshot was taken. */
  at: number;
  routes: RouteStats[];
  instances: InstanceStats[];
  connections: { client: number; service: number };
  /** Durable routes, sorted by name (empty when no route is durable). */
  durable: DurableStats[];
}

/** One live interaction as the sampler needs it. */
export interface LiveStream {
  readonly route: string;
  readonly requester: { readonly id: string; readonly bufferedBytes: number };
  demand(): { consumer: number; producer: number };
  held(): { items: number; bytes: number };
  averageItemBytes(): number;
}

/** The gateway internals a sampler reads. */
export interface StatsSource {
  /** Routes with a registered instance or served inside the gateway. */
  routes(): Iterable<string>;
  live(): Iterable<LiveStream>;
  /** Interactions open on routes served inside the gateway (they are not forwarded). */
  localInFlight(): ReadonlyMap<string, number>;
  counters(): Iterable<{ readonly route: string; readonly toRequester: number; readonly toResponder: number }>;
  errorsOf(route: string): ReadonlyMap<string, number>;
  routesWithErrors(): Iterable<string>;
  instances(): Iterable<{ readonly service: string; readonly id: string; readonly routes: ReadonlyMap<string, unknown>; readonly active: number }>;
  connections(): { client: number; service: number };
  breaker: BreakerStateOf;
  /** Durable routes' queues; absent when no route is durable. */
  durable?(): Iterable<DurableStats>;
}

/** Most routes in one snapshot (sorted by name); a snapshot stays a bounded payload. */
export const MAX_ROUTES_PER_SNAPSHOT = 500;
/** Most instances in one snapshot. */
export const MAX_INSTANCES_PER_SNAPSHOT = 500;

export class StatsSampler {
  private previous = new Map<string, { toRequester: number; toResponder: number }>();
  private previousAt: number;

  constructor(
    private readonly source: StatsSource,
    now: number = performance.now(),
  ) {
    this.previousAt = now;
    this.previous = this.readCounters();
  }

  /** A snapshot now; rates cover the time since the previous one (or since the sampler was made). */
  sample(now: number = performance.now()): StatsSnapshot {
    const s = this.source;
    const counters = this.readCounters();
    const seconds = Math.max((now - this.previousAt) / 1000, 1e-3);

    // Routes no instance serves any more stay listed while they have counters: their errors still matter.
    // Requests for undeclared routes are counted under "(unknown)", as in the metrics.
    const names = new Set<string>(s.routes());
    for (const r of counters.keys()) names.add(r);
    for (const r of s.routesWithErrors()) names.add(r);
    const byRoute = new Map<string, RouteStats>();
    for (const route of [...names].sort().slice(0, MAX_ROUTES_PER_SNAPSHOT)) {
      const c = counters.get(route);
      const p = this.previous.get(route);
      byRoute.set(route, {
        route,
        ratePerSec: {
          toRequester: rate((c?.toRequester ?? 0) - (p?.toRequester ?? 0), seconds),
          toResponder: rate((c?.toResponder ?? 0) - (p?.toResponder ?? 0), seconds),
        },
        inFlight: s.localInFlight().get(route) ?? 0,
        demand: { consumer: 0, producer: 0 },
        buffered: { items: 0, bytes: 0 },
        errors: Object.fromEntries(s.errorsOf(route)),
        breaker: s.breaker(route),
      });
    }
    const countedConnections = new Map<string, Set<string>>();
    for (const stream of s.live()) {
      const r = byRoute.get(stream.route);
      if (!r) continue;
      const d = stream.demand();
      r.inFlight++;
      r.demand.consumer += d.consumer;
      r.demand.producer += d.producer;
      const held = stream.held();
      r.buffered.items += held.items;
      r.buffered.bytes += held.bytes;
      let seen = countedConnections.get(stream.route);
      if (!seen) countedConnections.set(stream.route, (seen = new Set()));
      if (seen.has(stream.requester.id)) continue;
      seen.add(stream.requester.id);
      const bytes = stream.requester.bufferedBytes;
      if (bytes === 0) continue;
      const size = stream.averageItemBytes();
      r.buffered.bytes += bytes;
      r.buffered.items += size > 0 ? Math.ceil(bytes / size) : 1;
    }

    const instances: InstanceStats[] = [];
    for (const i of s.instances()) {
      if (instances.length >= MAX_INSTANCES_PER_SNAPSHOT) break;
      instances.push({ service: i.service, instance: i.id, routes: [...i.routes.keys()].sort(), active: i.active });
    }
    instances.sort((a, b) => a.service.localeCompare(b.service) || a.instance.localeCompare(b.instance));

    this.previous = counters;
    this.previousAt = now;
    const durable = [...(s.durable?.() ?? [])].sort((a, b) => a.route.localeCompare(b.route)).slice(0, MAX_ROUTES_PER_SNAPSHOT);
    return { at: Date.now(), routes: [...byRoute.values()], instances, connections: s.connections(), durable };
  }

  private readCounters(): Map<string, { toRequester: number; toResponder: number }> {
    const m = new Map<string, { toRequester: number; toResponder: number }>();
    for (const c of this.source.counters()) m.set(c.route, { toRequester: c.toRequester, toResponder: c.toResponder });
    return m;
  }
}

/** Per-second rate, rounded to 0.1: the dashboard needs no more, and the payload stays small. */
function rate(delta: number, seconds: number): number {
  return Math.round((Math.max(0, delta) / seconds) * 10) / 10;
}

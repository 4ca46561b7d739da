/**
 * Prometheus view of the durable routes: each route's queue depth, the age
 * of its oldest command, what is in flight to instances, and what was
 * accepted, deduplicated, refused, delivered, redelivered and dead-lettered.
 * Read from the routes at scrape time.
 */
import type client from 'prom-client';
import type { DurableRouteStats } from '../durable/durable-routes.js';
import { scrapedCounter, scrapedGauge } from './scraped-metrics.js';

export function registerDurableMetrics(registry: client.Registry, stats: () => readonly DurableRouteStats[]): void {
  const registers = [registry];
  const perRoute = (metric: typeof scrapedGauge | typeof scrapedCounter) => (name: string, help: string, read: (s: DurableRouteStats) => number) =>
    metric({ registers, name, help, labelNames: ['route'], read: () => stats().map((s) => [{ route: s.route }, read(s)] as const) });
  const gauge = perRoute(scrapedGauge);
  const counter = perRoute(scrapedCounter);
  gauge('sluice_durable_depth', 'Commands persisted on a durable route and not yet acknowledged by a service (in flight included)', (s) => s.depth);
  gauge('sluice_durable_oldest_age_seconds', 'Age of the oldest unacknowledged command of a durable route, in seconds', (s) => s.oldestAgeMs / 1000);
  gauge('sluice_durable_in_flight', 'Commands of a durable route sent to instances and not yet acknowledged', (s) => s.inFlight);
  counter('sluice_durable_accepted_total', 'Commands persisted and acknowledged to their client', (s) => s.accepted);
  counter('sluice_durable_duplicates_total', 'Commands acknowledged as duplicates of one within the dedupe window (not stored again)', (s) => s.duplicates);
  counter('sluice_durable_refused_total', 'Commands refused at the route (bound reached, persistence failed)', (s) => s.refused);
  counter('sluice_durable_delivered_total', 'Commands a service acknowledged', (s) => s.delivered);
  counter('sluice_durable_redeliveries_total', 'Deliveries after the first (a failure, a lost instance)', (s) => s.redeliveries);
  counter('sluice_durable_dead_lettered_total', 'Commands dead-lettered after their last delivery', (s) => s.deadLettered);
}

/**
 * Prometheus view of the rate limits shared across a fleet: reports sent and
 * received by result, keys left out or forgotten at their caps, the other
 * gateways' keys held, and per route the keys lowered and the part of the
 * limit left to the other gateways. Read at scrape time from the running
 * exchange; registered only when sharing is on.
 */
import type client from 'prom-client';
import type { RouteShare } from '../fleet/rate-share.js';
import type { SharedRateLimits } from '../fleet/shared-rate-limits.js';
import { scrapedCounter, scrapedGauge } from './scraped-metrics.js';

export function registerFleetRateMetrics(registry: client.Registry, shared: SharedRateLimits): void {
  const registers = [registry];
  const c = shared.counters;
  scrapedCounter({
    registers,
    name: 'sluice_fleet_rate_reports_sent_total',
    help: 'Rate reports this gateway published to the fleet (published), or could not (unsent: NATS disconnected or the publish failed)',
    labelNames: ['result'],
    read: () => [
      [{ result: 'published' }, c.published],
      [{ result: 'unsent' }, c.unsent],
    ],
  });
  scrapedCounter({
    registers,
    name: 'sluice_fleet_rate_reports_received_total',
    help: "Other gateways' rate reports: applied, or malformed (ignored whole)",
    labelNames: ['result'],
    read: () => [
      [{ result: 'applied' }, c.received],
      [{ result: 'malformed' }, c.malformed],
    ],
  });
  scrapedCounter({
    registers,
    name: 'sluice_fleet_rate_keys_dropped_total',
    help: "Keys not shared: active keys left out of a report beyond fleet.rateMaxKeys (unpublished), other gateways' fresh keys forgotten beyond fleet.rateMaxRemoteKeys or 64 gateways per key (remote)",
    labelNames: ['kind'],
    read: () => [
      [{ kind: 'unpublished' }, c.unpublishedKeys],
      [{ kind: 'remote' }, c.remoteEvicted],
    ],
  });
  scrapedGauge({ registers, name: 'sluice_fleet_rate_remote_keys', help: "Other gateways' keys (route and identity) held, at most fleet.rateMaxRemoteKeys", read: () => [[{}, shared.remoteKeys]] });
  scrapedGauge({
    registers,
    name: 'sluice_fleet_nats_connected',
    help: "Whether the rate-sharing NATS connection is up (0: each gateway enforces whole limits alone once the others' numbers age out)",
    read: () => [[{}, shared.connected ? 1 : 0]],
  });
  const perRoute = (name: string, help: string, read: (s: RouteShare) => number) =>
    scrapedGauge({ registers, name, help, labelNames: ['route'], read: () => Array.from(shared.routeShares(), ([route, s]) => [{ route }, read(s)] as const) });
  perRoute('sluice_fleet_rate_lowered_keys', "Keys of a route whose refill rate is lowered to this gateway's share of the limit", (s) => s.loweredKeys);
  perRoute('sluice_fleet_rate_remote_share', "Mean part of a route's limit left to other gateways over its lowered keys (0-1)", (s) => s.remoteShare);
}

/**
 * Prometheus view of the rate limits shared across a fleet: reports sent and
 * received by result, keys left out or forgotten at their caps, the other
 * gateways' keys held, and per route the keys lowered and the part of the
 * limit left to the other gateways. Read at scrape time from the running
 * exchange; registered only when sharing is on.
 */
import client from 'prom-client';
import type { SharedRateLimits } from '../fleet/shared-rate-limits.js';

export function registerFleetRateMetrics(registry: client.Registry, shared: SharedRateLimits): void {
  const registers = [registry];
  const c = shared.counters;
  new client.Counter({
    name: 'sluice_fleet_rate_reports_sent_total',
    help: 'Rate reports this gateway published to the fleet (published), or could not (unsent: NATS disconnected or the publish failed)',
    labelNames: ['result'],
    registers,
    collect() {
      this.reset();
      this.inc({ result: 'published' }, c.published);
      this.inc({ result: 'unsent' }, c.unsent);
    },
  });
  new client.Counter({
    name: 'sluice_fleet_rate_reports_received_total',
    help: "Other gateways' rate reports: applied, or malformed (ignored whole)",
    labelNames: ['result'],
    registers,
    collect() {
      this.reset();
      this.inc({ result: 'applied' }, c.received);
      this.inc({ result: 'malformed' }, c.malformed);
    },
  });
  new client.Counter({
    name: 'sluice_fleet_rate_keys_dropped_total',
    help: 'Keys not shared: active keys left out of a report beyond fleet.rateMaxKeys (unpublished), other gateways\' fresh keys forgotten beyond fleet.rateMaxRemoteKeys or 64 gateways per key (remote)',
    labelNames: ['kind'],
    registers,
    collect() {
      this.reset();
      this.inc({ kind: 'unpublished' }, c.unpublishedKeys);
      this.inc({ kind: 'remote' }, c.remoteEvicted);
    },
  });
  new client.Gauge({
    name: 'sluice_fleet_rate_remote_keys',
    help: "Other gateways' keys (route and identity) held, at most fleet.rateMaxRemoteKeys",
    registers,
    collect() {
      this.set(shared.remoteKeys);
    },
  });
  new client.Gauge({
    name: 'sluice_fleet_nats_connected',
    help: 'Whether the rate-sharing NATS connection is up (0: each gateway enforces whole limits alone once the others\' numbers age out)',
    registers,
    collect() {
      this.set(shared.connected ? 1 : 0);
    },
  });
  new client.Gauge({
    name: 'sluice_fleet_rate_lowered_keys',
    help: 'Keys of a route whose refill rate is lowered to this gateway\'s share of the limit',
    labelNames: ['route'],
    registers,
    collect() {
      this.reset();
      for (const [route, s] of shared.routeShares()) this.set({ route }, s.loweredKeys);
    },
  });
  new client.Gauge({
    name: 'sluice_fleet_rate_remote_share',
    help: 'Mean part of a route\'s limit left to other gateways over its lowered keys (0-1)',
    labelNames: ['route'],
    registers,
    collect() {
      this.reset();
      for (const [route, s] of shared.routeShares()) this.set({ route }, s.remoteShare);
    },
  });
}

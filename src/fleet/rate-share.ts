/**
 * One gateway's part in sharing per-identity rate limits across a fleet,
 * without a NATS round trip on any request: every interval it reads what
 * callers asked of each of its buckets (`KeyedRateLimiter.sweep`), sets each
 * bucket's refill rate to its share of the route's limit given what the
 * other gateways reported, and returns its own report for them. Pure logic,
 * clock passed in; the NATS side is shared-rate-limits.ts.
 *
 * The share is proportional to demand (takes asked, admitted or not), not to
 * what was admitted: admitted counts depend on the shares themselves, and
 * gateways answering each other's admitted counts oscillate between
 * starving and doubling. Demand does not depend on the share, so N gateways'
 * shares sum to the limit from the first exchange on.
 */
import type { KeyedRateLimiter } from '../resilience/rate-limiter.js';
import type { Clock } from '../resilience/clock.js';
import type { RateReport } from './rate-report.js';
import { RemoteRates } from './remote-rates.js';

/**
 * This gateway's refill rate for one key, per second, never above `limit`:
 * - no other gateway uses the key: the whole limit;
 * - the fleet asks less than the limit: what the others leave (`limit - others`);
 * - it asks more: this gateway's part of the limit in proportion to what it is asked (`limit * mine / (mine + others)`);
 * - at least `limit * minShare / gateways`, so a key never starves here
 *   while the others are busy (the floors of all gateways add up to
 *   `minShare` of the limit at most).
 *
 * @param limit the route's `rateLimit.ratePerSec`
 * @param mine takes per second asked of this gateway in its last interval
 * @param others sum of the other gateways' reported takes per second
 * @param gateways gateways using the key, this one included (>= 1)
 * @param minShare fraction of the limit kept over all gateways' floors (0-1]
 */
export function localShare(limit: number, mine: number, others: number, gateways: number, minShare: number): number {
  if (!(others > 0)) return limit;
  const floor = (limit * minShare) / Math.max(1, gateways);
  const spare = limit - others;
  const proportional = mine > 0 ? (limit * mine) / (mine + others) : 0;
  return Math.min(limit, Math.max(floor, spare, proportional));
}

/** A route with a rate limit, as the policy runtime holds it. */
export interface RateLimitedRoute {
  route: string;
  /** The policy's `rateLimit.ratePerSec`. */
  ratePerSec: number;
  limiter: KeyedRateLimiter;
}

export interface FleetRateShareOptions {
  /** This gateway's `fleet.id`: its own reports coming back are ignored. */
  gatewayId: string;
  /** ms between ticks (`fleet.rateIntervalMs`). */
  intervalMs: number;
  /** Keys per report at most, the busiest first (`fleet.rateMaxKeys`). */
  maxKeys: number;
  /** Other gateways' keys remembered at most (`fleet.rateMaxRemoteKeys`). */
  maxRemoteKeys: number;
  /** See `localShare` (`fleet.rateMinShare`). */
  minShare: number;
  /** A route and identity's tag as published (a fixed-size hash). */
  tagOf: (route: string, identity: string) => string;
}

/** Per route, after a tick: keys whose rate is lowered, and the mean part of the limit given to other gateways over those keys. */
export interface RouteShare {
  loweredKeys: number;
  remoteShare: number;
}

export class FleetRateShare {
  readonly counters = {
    /** Reports of other gateways applied. */
    received: 0,
    /** Keys active here but left out of a report (beyond `maxKeys`): the others do not see them this interval. */
    unpublishedKeys: 0,
  };
  readonly remote: RemoteRates;
  private lastTick: number;
  /** Tags in the last report with a rate > 0: a key that goes quiet is reported once more, at 0, so the others stop counting it at once. */
  private published = new Set<string>();
  private readonly shares = new Map<string, RouteShare>();

  constructor(
    private readonly options: FleetRateShareOptions,
    private readonly clock: Clock,
  ) {
    this.remote = new RemoteRates(options.maxRemoteKeys);
    this.lastTick = clock();
  }

  /** Takes in another gateway's report (one from this gateway is ignored: false). */
  receive(report: RateReport): boolean {
    if (report.gateway === this.options.gatewayId) return false;
    const now = this.clock();
    for (const [tag, perSec] of report.rates) this.remote.record(report.gateway, tag, perSec, report.intervalMs, now);
    this.counters.received++;
    return true;
  }

  /**
   * Sets every active or lowered bucket's rate to its share and returns
   * this gateway's report (empty rates when nothing is asked of it).
   */
  tick(routes: Iterable<RateLimitedRoute>): RateReport {
    const now = this.clock();
    const elapsedSec = Math.max(1, now - this.lastTick) / 1000;
    this.lastTick = now;
    this.remote.prune(now);
    const active: Array<[tag: string, perSec: number]> = [];
    this.shares.clear();
    for (const { route, ratePerSec: limit, limiter } of routes) {
      let shared = 0;
      let remoteShare = 0;
      for (const a of limiter.sweep((identity) => this.options.tagOf(route, identity))) {
        const mine = a.takes / elapsedSec;
        const others = this.remote.others(a.tag, now);
        const rate = localShare(limit, mine, others.perSec, others.gateways + 1, this.options.minShare);
        if (rate !== a.ratePerSec) limiter.setRate(a.key, rate);
        if (rate < limit) {
          shared++;
          remoteShare += 1 - rate / limit;
        }
        if (a.takes > 0) active.push([a.tag, mine]);
      }
      if (shared > 0 || limiter.loweredKeys > 0) this.shares.set(route, { loweredKeys: limiter.loweredKeys, remoteShare: shared > 0 ? remoteShare / shared : 0 });
    }
    if (active.length > this.options.maxKeys) {
      active.sort((x, y) => y[1] - x[1]);
      this.counters.unpublishedKeys += active.length - this.options.maxKeys;
      active.length = this.options.maxKeys;
    }
    const published = new Set(active.map(([tag]) => tag));
    // Within the same cap: a quiet key left out here ages out of the others' tables instead (a few intervals).
    for (const tag of this.published) if (!published.has(tag) && active.length < this.options.maxKeys) active.push([tag, 0]);
    this.published = published;
    return { gateway: this.options.gatewayId, intervalMs: this.options.intervalMs, rates: active };
  }

  /** Routes with lowered keys after the last tick. */
  routeShares(): ReadonlyMap<string, RouteShare> {
    return this.shares;
  }
}

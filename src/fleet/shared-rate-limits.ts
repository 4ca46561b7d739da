/**
 * Per-identity rate limits shared by a fleet of gateways over core NATS
 * pub/sub: every `fleet.rateIntervalMs` each gateway publishes what callers
 * asked of its rate-limited keys and lowers its own buckets to its share
 * (rate-share.ts). Nothing of it is on a request's path: a request takes a
 * token from the local bucket as before.
 *
 * Core NATS rather than a KV bucket: the numbers are only worth their last
 * interval, so nothing needs storing, and a lost message costs one interval
 * of accuracy. When NATS is away, nothing is published (counted, logged once
 * per outage) and the other gateways' numbers age out within three of their
 * intervals, so each gateway falls back to enforcing the whole limit itself:
 * a caller spread over N gateways then gets up to N times the limit again,
 * never less than one gateway would give it.
 */
import { createHash } from 'node:crypto';
import type { NatsConnection, Subscription } from '@nats-io/nats-core';
import type { Logger } from '../observability/log.js';
import { systemClock, type Clock } from '../resilience/clock.js';
import { connectNats, type NatsCredentials } from './nats-connection.js';
import { FleetRateShare, type RateLimitedRoute, type RouteShare } from './rate-share.js';
import { readRateReport, writeRateReport } from './rate-report.js';

export interface SharedRateLimitsOptions {
  servers: readonly string[];
  credentials?: NatsCredentials;
  /** This gateway's `fleet.id`. */
  gatewayId: string;
  /** The fleet's bucket name: gateways of one fleet share `sluice.fleet.<bucket>.rates`. */
  bucket: string;
  /** `fleet.rateIntervalMs`, `fleet.rateMaxKeys`, `fleet.rateMaxRemoteKeys`, `fleet.rateMinShare`. */
  intervalMs: number;
  maxKeys: number;
  maxRemoteKeys: number;
  minShare: number;
  /** The routes with a rate limit now (read at every tick). */
  routes: () => Iterable<RateLimitedRoute>;
  log: Logger;
  clock?: Clock;
}

export interface SharedRateLimits {
  readonly counters: {
    /** Reports published. */
    published: number;
    /** Reports not published: NATS disconnected, or the publish failed. */
    unsent: number;
    /** Other gateways' reports applied. */
    received: number;
    /** Messages on the subject that were not a valid report (ignored whole). */
    malformed: number;
    /** Active keys left out of reports beyond `fleet.rateMaxKeys`. */
    unpublishedKeys: number;
    /** Other gateways' keys forgotten while fresh, to stay within `fleet.rateMaxRemoteKeys`. */
    remoteEvicted: number;
  };
  /** Whether the NATS connection is up now. */
  readonly connected: boolean;
  /** Other gateways' keys held now. */
  readonly remoteKeys: number;
  /** Per route, keys lowered and the mean part of the limit left to other gateways, after the last tick. */
  routeShares(): ReadonlyMap<string, RouteShare>;
  /** Stops publishing, unsubscribes and closes the connection; buckets keep their last rates. */
  stop(): Promise<void>;
}

/** The NATS subject a fleet's gateways exchange their reports on. */
export function rateSubject(bucket: string): string {
  return `sluice.fleet.${bucket}.rates`;
}

/** A route and identity as published: 96 bits of SHA-256, so identities never travel in clear and every tag has one size. */
export function rateKeyTag(route: string, identity: string): string {
  return createHash('sha256').update(route).update('\n').update(identity).digest('base64url').slice(0, 16);
}

/** Connects (throws UNAVAILABLE when no server answers), subscribes, and starts the interval. */
export async function shareRateLimits(options: SharedRateLimitsOptions): Promise<SharedRateLimits> {
  const { log } = options;
  const clock = options.clock ?? systemClock;
  const share = new FleetRateShare(
    { gatewayId: options.gatewayId, intervalMs: options.intervalMs, maxKeys: options.maxKeys, maxRemoteKeys: options.maxRemoteKeys, minShare: options.minShare, tagOf: rateKeyTag },
    clock,
  );
  const nc: NatsConnection = await connectNats(options.servers, `sluice-gateway-${options.gatewayId}-rates`, options.credentials);
  const subject = rateSubject(options.bucket);
  const counters = { published: 0, unsent: 0, malformed: 0 };
  let connected = true;
  let unsentLogged = false;
  let malformedLogged = false;

  const sub: Subscription = nc.subscribe(subject, {
    callback: (err, msg) => {
      if (err) return;
      const report = readRateReport(msg.data);
      if (!report) {
        counters.malformed++;
        // One line: a peer sending garbage would otherwise log at its own rate.
        if (!malformedLogged) log.warn({ subject, bytes: msg.data.length }, 'ignored a malformed rate report (counted in sluice_fleet_rate_reports_received_total{result="malformed"})');
        malformedLogged = true;
        return;
      }
      share.receive(report);
    },
  });

  void (async () => {
    for await (const s of nc.status()) {
      if (s.type === 'disconnect') {
        connected = false;
        log.warn({ subject }, 'NATS lost: rate limits fall back to this gateway alone as the other gateways\' numbers age out');
      } else if (s.type === 'reconnect') {
        connected = true;
        unsentLogged = false;
        log.info({ subject }, 'NATS back: sharing rate limits with the fleet again');
      }
    }
  })().catch(() => {});

  const tick = () => {
    const report = share.tick(options.routes());
    if (report.rates.length === 0) return;
    if (!connected || nc.isClosed()) {
      counters.unsent++;
      return;
    }
    try {
      nc.publish(subject, writeRateReport(report));
      counters.published++;
    } catch (err) {
      counters.unsent++;
      if (!unsentLogged) log.warn({ subject, err: (err as Error).message }, 'rate report not published');
      unsentLogged = true;
    }
  };
  const timer = setInterval(tick, options.intervalMs);
  log.info({ subject, intervalMs: options.intervalMs }, 'sharing rate limits with the fleet');

  let stopping: Promise<void> | undefined;
  return {
    counters: {
      get published() {
        return counters.published;
      },
      get unsent() {
        return counters.unsent;
      },
      get received() {
        return share.counters.received;
      },
      get malformed() {
        return counters.malformed;
      },
      get unpublishedKeys() {
        return share.counters.unpublishedKeys;
      },
      get remoteEvicted() {
        return share.remote.evicted + share.remote.ignored;
      },
    },
    get connected() {
      return connected && !nc.isClosed();
    },
    get remoteKeys() {
      return share.remote.size;
    },
    routeShares: () => share.routeShares(),
    stop: () =>
      (stopping ??= (async () => {
        clearInterval(timer);
        sub.unsubscribe();
        await nc.close().catch(() => {});
      })()),
  };
}

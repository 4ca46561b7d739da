/**
 * `sluice.stats`: a request-stream served inside the gateway that emits a
 * StatsSnapshot every `intervalMs` while, and only while, its subscriber has
 * demand.
 *
 * It is written directly on the engine `Stream` rather than with the service
 * emitters: a snapshot is produced only when `sendCredit > 0`, and the one
 * timer a subscription owns is armed only then. A subscriber that stops
 * requesting gets nothing more and costs nothing but its stream entry: no
 * timer, no sampling. A cancel or a closed connection stops it at once.
 */
import { SluiceError } from '../errors.js';
import { decodeJson, encodeJson } from '../protocol/json.js';
import type { Logger } from '../observability/log.js';
import type { RouteCounters } from '../observability/metrics.js';
import { StatsSampler, type StatsSource } from '../observability/stats.js';
import type { Stream, StreamHandler } from '../rsocket/stream.js';
import type { LocalRoute } from './forwarder.js';

export const STATS_ROUTE = 'sluice.stats';

export const STATS_INTERVAL = { min: 100, max: 60_000, default: 1_000 } as const;

export interface StatsRouteOptions {
  source: StatsSource;
  /** The forwarded-items record of the route, so snapshots count like any forwarded payload. */
  counters: () => RouteCounters;
  log: Logger;
  /** Subscriptions open at once; more are refused with OVERLOADED. Default 64. */
  maxSubscribers?: number;
}

export interface StatsRoute extends LocalRoute {
  /** Subscriptions open now. */
  readonly subscribers: number;
  /** Snapshots produced since the gateway started (tests compare it across a pause in demand). */
  readonly produced: number;
}

export function statsRoute(options: StatsRouteOptions): StatsRoute {
  const maxSubscribers = options.maxSubscribers ?? 64;
  let subscribers = 0;
  let produced = 0;

  const requestStream = (payload: { data: Uint8Array | null }, stream: Stream): StreamHandler => {
    const intervalMs = parseInterval(payload.data);
    if (subscribers >= maxSubscribers) throw new SluiceError('OVERLOADED', `too many ${STATS_ROUTE} subscriptions (limit ${maxSubscribers})`);
    subscribers++;
    const sampler = new StatsSampler(options.source);
    const counters = options.counters();
    const log = options.log.child({ stream: stream.id });
    let lastAt = performance.now();
    let timer: ReturnType<typeof setTimeout> | undefined;
    let cancelWait: (() => void) | undefined;
    let stopped = false;

    const stop = (): void => {
      if (stopped) return;
      stopped = true;
      clearTimeout(timer);
      timer = undefined;
      cancelWait?.();
      cancelWait = undefined;
      subscribers--;
    };

    // Arms the next tick only when there is demand and nothing is armed yet.
    const arm = (): void => {
      if (stopped || timer !== undefined || cancelWait !== undefined || stream.sendCredit <= 0) return;
      timer = setTimeout(tick, Math.max(0, lastAt + intervalMs - performance.now()));
      (timer as { unref?: () => void }).unref?.();
    };

    const tick = (): void => {
      timer = undefined;
      if (stopped || stream.outboundDone) return stop();
      if (stream.sendCredit <= 0) return;
      // A consumer whose socket is backed up gets its next snapshot when it drains, not a growing queue.
      if (!stream.host.writable) {
        cancelWait = stream.host.whenWritable(() => {
          cancelWait = undefined;
          tick();
        });
        return;
      }
      const now = performance.now();
      lastAt = now;
      let data: Uint8Array;
      try {
        data = encodeJson(sampler.sample(now));
      } catch (err) {
        log.error({ err }, 'stats snapshot failed');
        stream.error(new SluiceError('INTERNAL', 'stats snapshot failed'));
        return stop();
      }
      stream.next({ data, metadata: null });
      counters.toRequester++;
      produced++;
      arm();
    };

    log.debug({ intervalMs }, 'stats subscription opened');
    arm();
    return {
      onNext: () => {},
      onComplete: () => {},
      onRequest: () => arm(),
      onCancel: () => {
        log.debug({ produced }, 'stats subscription cancelled');
        stop();
      },
      onError: () => stop(),
    };
  };

  return {
    requestStream,
    get subscribers() {
      return subscribers;
    },
    get produced() {
      return produced;
    },
  };
}

/** `{"intervalMs"?: int}` within STATS_INTERVAL; no data at all means the default. */
function parseInterval(data: Uint8Array | null): number {
  let value: unknown;
  try {
    value = data && data.length > 0 ? decodeJson(data) : undefined;
  } catch {
    throw new SluiceError('INVALID_ARGUMENT', `${STATS_ROUTE} data must be JSON {"intervalMs"?: number}`);
  }
  if (value === undefined || value === null) return STATS_INTERVAL.default;
  if (typeof value !== 'object' || Array.isArray(value)) throw new SluiceError('INVALID_ARGUMENT', `${STATS_ROUTE} data must be an object {"intervalMs"?: number}`);
  const ms = (value as { intervalMs?: unknown }).intervalMs;
  if (ms === undefined) return STATS_INTERVAL.default;
  if (typeof ms !== 'number' || !Number.isInteger(ms) || ms < STATS_INTERVAL.min || ms > STATS_INTERVAL.max) {
    throw new SluiceError('INVALID_ARGUMENT', `'intervalMs' must be an integer from ${STATS_INTERVAL.min} to ${STATS_INTERVAL.max}`);
  }
  return ms;
}

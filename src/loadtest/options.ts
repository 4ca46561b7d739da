/**
 * Load tester options: every setting with its default and allowed range,
 * validated once at the edge. A bad value fails with a message naming the
 * flag and its range. Targets must be loopback unless `allowRemote` is set:
 * the load tester floods what it points at, so pointing it elsewhere must be
 * a deliberate choice.
 */

import { isLoopbackHost } from '../loopback.js';

export { isLoopbackHost };

export type LoadtestMode = 'channel' | 'rr';

export interface LoadtestOptions {
  /** Gateway URL. Default `ws://127.0.0.1:7878`. */
  url: string;
  /** Gateway admin URL, for gateway memory from `/metrics`; null skips it. Default `http://127.0.0.1:7879`. */
  adminUrl: string | null;
  /** `channel`: producers push over request-channel as fast as granted; `rr`: request-response. Default `channel`. */
  mode: LoadtestMode;
  /** Route to load. Default `bench.sink` (channel) or `bench.echo` (rr). */
  route: string;
  /** Producer connections. Default 4, 1-10000. */
  producers: number;
  /**
   * Channel mode: consumers, i.e. concurrent channels (each one a sink that
   * takes one item at a time), spread round-robin over the producer
   * connections. Default: one per producer, 1-100000.
   */
  consumers: number;
  /** Channel mode: ms each consumer spends per item, sent as `{"delayMs"}` in each channel's opening payload. Default 0, 0-60000. */
  consumerDelayMs: number;
  /**
   * Offered load per second, over all producers. rr: the open-loop request
   * rate. channel: the rate producers would push at if demand allowed (the
   * rest is held back by backpressure and counted). null: rr runs closed
   * loop with `concurrency`, channel pushes as fast as granted. Default null.
   */
  rate: number | null;
  /** rr closed loop: requests kept outstanding. Default 100, 1-100000. */
  concurrency: number;
  /** rr open loop: most requests in flight; sends due beyond it are counted as MAX_IN_FLIGHT. Default 10000, 1-1000000. */
  maxInFlight: number;
  /** Stop after this many requests or items. Default 1000000, 1-1000000000. */
  count: number;
  /** Stop sending after this many seconds. Default 10, 0.1-3600. */
  durationS: number;
  /** After sending stops, wait at most this long for answers. Default 10, 0-600. */
  drainS: number;
  /** Approximate payload size in bytes. Default 100, 0-524288. */
  size: number;
  /** Print the final report as JSON. */
  json: boolean;
  /** Allow non-loopback targets. */
  allowRemote: boolean;
}

export const loadtestDefaults: LoadtestOptions = {
  url: 'ws://127.0.0.1:7878',
  adminUrl: 'http://127.0.0.1:7879',
  mode: 'channel',
  route: 'bench.sink',
  producers: 4,
  consumers: 4,
  consumerDelayMs: 0,
  rate: null,
  concurrency: 100,
  maxInFlight: 10_000,
  count: 1_000_000,
  durationS: 10,
  drainS: 10,
  size: 100,
  json: false,
  allowRemote: false,
};

/** Raw values as the CLI parsed them (strings and booleans). */
export type RawLoadtestFlags = Partial<Record<string, string | boolean | undefined>>;

export class OptionError extends Error {
  override readonly name = 'OptionError';
}

/** Validates raw flag values into options; throws OptionError naming the flag and its range. */
export function resolveLoadtestOptions(raw: RawLoadtestFlags): LoadtestOptions {
  const mode = oneOf(raw.mode, '--mode', ['channel', 'rr'] as const) ?? loadtestDefaults.mode;
  const producers = int(raw.producers, '--producers', 1, 10_000) ?? loadtestDefaults.producers;
  if (mode === 'rr') {
    for (const flag of ['consumers', 'consumer-delay-ms'] as const) {
      if (raw[flag] !== undefined) throw new OptionError(`--${flag} applies to --mode channel only (request-response consumers are the route's instances)`);
    }
  } else {
    for (const flag of ['concurrency', 'max-in-flight'] as const) {
      if (raw[flag] !== undefined) throw new OptionError(`--${flag} applies to --mode rr only`);
    }
  }
  const rate = num(raw.rate, '--rate', 0.1, 10_000_000) ?? null;
  if (rate !== null && raw.concurrency !== undefined) throw new OptionError('--concurrency is for closed loop; with --rate the load is open loop (use --max-in-flight)');
  const options: LoadtestOptions = {
    url: url(raw.url, '--url', ['ws:', 'wss:', 'tcp:', 'tls:']) ?? loadtestDefaults.url,
    adminUrl: raw['admin-url'] === 'none' ? null : url(raw['admin-url'], '--admin-url', ['http:', 'https:']) ?? loadtestDefaults.adminUrl,
    mode,
    route: route(raw.route) ?? (mode === 'rr' ? 'bench.echo' : 'bench.sink'),
    producers,
    consumers: int(raw.consumers, '--consumers', 1, 100_000) ?? producers,
    consumerDelayMs: int(raw['consumer-delay-ms'], '--consumer-delay-ms', 0, 60_000) ?? loadtestDefaults.consumerDelayMs,
    rate,
    concurrency: int(raw.concurrency, '--concurrency', 1, 100_000) ?? loadtestDefaults.concurrency,
    maxInFlight: int(raw['max-in-flight'], '--max-in-flight', 1, 1_000_000) ?? loadtestDefaults.maxInFlight,
    count: int(raw.count, '--count', 1, 1_000_000_000) ?? loadtestDefaults.count,
    durationS: num(raw['duration-s'], '--duration-s', 0.1, 3600) ?? loadtestDefaults.durationS,
    drainS: num(raw['drain-s'], '--drain-s', 0, 600) ?? loadtestDefaults.drainS,
    size: int(raw.size, '--size', 0, 524_288) ?? loadtestDefaults.size,
    json: raw.json === true,
    allowRemote: raw['allow-remote'] === true,
  };
  if (!options.allowRemote) {
    requireLoopback(options.url, '--url');
    if (options.adminUrl) requireLoopback(options.adminUrl, '--admin-url');
  }
  return options;
}

/** Throws unless `value` (a URL) points at this machine. */
export function requireLoopback(value: string, flag: string): void {
  const host = new URL(value).hostname;
  if (!isLoopbackHost(host)) {
    throw new OptionError(`${flag} ${value} is not a loopback address; the load tester floods its target, so a remote one needs --allow-remote`);
  }
}

function int(value: unknown, flag: string, min: number, max: number): number | undefined {
  if (value === undefined) return undefined;
  const n = typeof value === 'string' && value.trim() !== '' ? Number(value) : NaN;
  if (!Number.isInteger(n) || n < min || n > max) throw new OptionError(`${flag} must be an integer from ${min} to ${max}, got '${String(value)}'`);
  return n;
}

function num(value: unknown, flag: string, min: number, max: number): number | undefined {
  if (value === undefined) return undefined;
  const n = typeof value === 'string' && value.trim() !== '' ? Number(value) : NaN;
  if (!Number.isFinite(n) || n < min || n > max) throw new OptionError(`${flag} must be a number from ${min} to ${max}, got '${String(value)}'`);
  return n;
}

function oneOf<T extends string>(value: unknown, flag: string, allowed: readonly T[]): T | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || !(allowed as readonly string[]).includes(value)) throw new OptionError(`${flag} must be one of ${allowed.join(', ')}, got '${String(value)}'`);
  return value as T;
}

function url(value: unknown, flag: string, schemes: readonly string[]): string | undefined {
  if (value === undefined) return undefined;
  let parsed: URL;
  try {
    parsed = new URL(String(value));
  } catch {
    throw new OptionError(`${flag} must be a URL (${schemes.map((s) => `${s}//`).join(', ')}), got '${String(value)}'`);
  }
  if (!schemes.includes(parsed.protocol)) throw new OptionError(`${flag} must use ${schemes.map((s) => `${s}//`).join(' or ')}, got '${String(value)}'`);
  return String(value).replace(/\/$/, '');
}

function route(value: unknown): string | undefined {
  if (value === undefined) return undefined;
  // The same rule as route names in a registration (docs/protocol.md).
  if (typeof value !== 'string' || !/^[A-Za-z0-9][A-Za-z0-9_.:/-]{0,254}$/.test(value)) {
    throw new OptionError(`--route must be 1-255 characters from [A-Za-z0-9_.:/-] starting with a letter or digit, got '${String(value)}'`);
  }
  return value;
}

/**
 * Per-route resilience policies: the schema, the defaults, validation at
 * start-up and the lookup from a route name to its resolved policy.
 *
 * Configuration shape (gateway config key `policies`):
 *
 *   {
 *     "defaults": { ...RoutePolicyInput },
 *     "routes": { "checkout.place": { ... }, "payment.*": { ... } }
 *   }
 *
 * A route's policy is the defaults, overlaid by the longest matching prefix
 * pattern (`payment.*`), overlaid by its exact entry. Every numeric setting is
 * range-checked; a bad one fails start-up with a ConfigError naming the key
 * (e.g. `policies.routes.checkout.place.retry.maxAttempts`) and the range.
 */
import { ConfigError } from '../config-error.js';
import { isErrorCode, type ErrorCode } from '../errors.js';
import type { CircuitBreakerOptions } from '../resilience/circuit-breaker.js';

export interface RetryPolicy {
  /** Total attempts including the first; 1 disables retries. Retries apply only to idempotent routes. */
  maxAttempts: number;
  initialDelayMs: number;
  maxDelayMs: number;
  multiplier: number;
  /** Retries allowed per request over `budgetTtlMs` (0..1): caps retry traffic at this fraction of normal traffic. */
  budgetRatio: number;
  /** Retries per second always allowed, so quiet routes can still retry. */
  budgetMinPerSec: number;
  budgetTtlMs: number;
  /** Codes worth another attempt on another instance. */
  retryOn: ErrorCode[];
}

/** The breaker settings of CircuitBreakerOptions, plus whether breakers run and which codes count as failures. */
export interface BreakerPolicy extends CircuitBreakerOptions {
  enabled: boolean;
  /** Codes that count as failures of the instance (not of the request). */
  failureCodes: ErrorCode[];
}

export interface BulkheadPolicy {
  /** Interactions in flight on this route at once. */
  maxConcurrent: number;
  /** Interactions waiting for a slot, at most; beyond it, OVERLOADED at once. */
  maxQueue: number;
  /** Longest wait for a slot (shortened by the request's deadline). */
  maxWaitMs: number;
  /** Interactions in flight on one instance for this route at once. */
  maxConcurrentPerInstance: number;
  /**
   * One client identity's share of the route's interactions (in flight or
   * waiting for a slot): below 1, a fraction of `maxConcurrent` (rounded
   * down, at least 1); 1 or more, a count (one of at least
   * `maxConcurrent + maxQueue` never binds).
   * Beyond it, OVERLOADED at once. Default 0.5: no single identity can take
   * the whole route.
   */
  maxPerIdentity: number;
}

export interface RateLimitPolicy {
  /** Sustained requests per second per client identity. */
  ratePerSec: number;
  /** Requests a client may send at once above the sustained rate. */
  burst: number;
}

/**
 * Cached answers of an idempotent request-response route (see
 * response-cache.ts). Answers are kept per route, request data bytes and the
 * caller's permission scope, and bounded per route by entries and bytes
 * (least recently used dropped first).
 */
export interface CachePolicy {
  /** How long an answer is served from the cache without asking an instance, in ms. */
  ttlMs: number;
  /**
   * How long past `ttlMs` an answer may still be served, marked stale, when
   * the call fails (no instance, instance failed or gone, breaker open,
   * deadline). 0: never stale. Default 0.
   */
  staleIfErrorMs: number;
  /** Answers kept at most for the route. Default 1000. */
  maxEntries: number;
  /** Bytes of answers (data and metadata) kept at most for the route. Default 1 MiB. */
  maxBytes: number;
}

/**
 * A durable route (docs/resilience.md#durable-routes): the gateway persists
 * each command before acknowledging it and delivers it as instances grant
 * demand, at least once, redelivering with backoff and dead-lettering after
 * `maxDeliveries`. `durable: true` in a policy is short for `{ enabled: true }`.
 */
export interface DurablePolicy {
  enabled: boolean;
  /**
   * How commands reach a service: `channel` (one request-channel per
   * instance, commands as the service requests them, one reply item per
   * command in order acknowledging it) or `response` (one request-response
   * per command, the reply acknowledging it). Default `channel`.
   */
  delivery: 'channel' | 'response';
  /** Deliveries of one command before it is dead-lettered. Default 5. */
  maxDeliveries: number;
  /** Backoff ceiling before the first redelivery, in ms (full jitter, doubling). Default 500. */
  backoffInitialMs: number;
  /** Largest backoff ceiling, in ms. Default 30 s. */
  backoffMaxMs: number;
  /** A repeated idempotency key within this window is acknowledged as a duplicate and not stored again, in ms. Default 2 min. */
  dedupeWindowMs: number;
  /** Commands held for the route at most (in flight included); beyond, OVERLOADED with a retry hint. Default 100,000. */
  maxMessages: number;
  /** Payload bytes held for the route at most (the embedded backend keeps them in memory too); same behaviour. Default 64 MiB. */
  maxBytes: number;
  /** Commands one instance holds unacknowledged at most, whatever it requested. Default 256. */
  maxInFlightPerInstance: number;
  /** A delivered command neither acknowledged nor failed by its instance within this many ms fails DEADLINE_EXCEEDED and is redelivered (counting as a delivery). Default 30 s, 100 ms to 1 h. */
  ackTimeoutMs: number;
}

export interface RoutePolicy {
  /** Default deadline for the whole interaction; a requester's shorter deadline wins. null: none. */
  deadlineMs: number | null;
  /** Overrides what the service declared at registration; null: as declared. */
  idempotent: boolean | null;
  retry: RetryPolicy;
  breaker: BreakerPolicy;
  bulkhead: BulkheadPolicy;
  /** null: no rate limit. */
  rateLimit: RateLimitPolicy | null;
  /** Route to call instead while every instance's breaker is open. null: fail with CIRCUIT_OPEN. */
  fallback: string | null;
  /** Store requests that finally fail (or are refused as POISON_MESSAGE) in the dead-letter queue. */
  deadLetter: boolean;
  /** Cached answers (request-response on idempotent routes only). null: nothing cached. */
  cache: CachePolicy | null;
  /**
   * The route's streams can resume from a position: its service reads the
   * `resume-after` entry (`ctx.resumeAfter`) and sends the items after it,
   * numbered as before. An SSE caller reconnecting with `Last-Event-ID` then
   * resumes; on other routes it is refused with RESUME_UNSUPPORTED. Default false.
   */
  resumable: boolean;
  durable: DurablePolicy;
}

type DeepPartial<T> = { [K in keyof T]?: T[K] extends unknown[] ? T[K] : T[K] extends object | null ? DeepPartial<NonNullable<T[K]>> | null : T[K] };
export type RoutePolicyInput = Omit<DeepPartial<RoutePolicy>, 'durable'> & { durable?: DeepPartial<DurablePolicy> | boolean | null };

export interface PoliciesConfig {
  defaults: RoutePolicyInput;
  routes: Record<string, RoutePolicyInput>;
}

export const defaultRoutePolicy: RoutePolicy = {
  deadlineMs: null,
  idempotent: null,
  retry: {
    maxAttempts: 3,
    initialDelayMs: 50,
    maxDelayMs: 1_000,
    multiplier: 2,
    budgetRatio: 0.2,
    budgetMinPerSec: 5,
    budgetTtlMs: 10_000,
    retryOn: ['UNAVAILABLE', 'OVERLOADED', 'INTERNAL'],
  },
  breaker: {
    enabled: true,
    windowSize: 20,
    minimumCalls: 10,
    failureRateThreshold: 0.5,
    slowCallDurationMs: 5_000,
    slowCallRateThreshold: 1,
    openDurationMs: 5_000,
    halfOpenMaxCalls: 3,
    failureCodes: ['UNAVAILABLE', 'INTERNAL', 'DEADLINE_EXCEEDED'],
  },
  bulkhead: { maxConcurrent: 20_000, maxQueue: 1_000, maxWaitMs: 1_000, maxConcurrentPerInstance: 20_000, maxPerIdentity: 0.5 },
  rateLimit: null,
  fallback: null,
  deadLetter: false,
  cache: null,
  resumable: false,
  durable: {
    enabled: false,
    delivery: 'channel',
    maxDeliveries: 5,
    backoffInitialMs: 500,
    backoffMaxMs: 30_000,
    dedupeWindowMs: 120_000,
    maxMessages: 100_000,
    maxBytes: 64 * 1024 * 1024,
    maxInFlightPerInstance: 256,
    ackTimeoutMs: 30_000,
  },
};

/** What an enabled cache policy holds unless told otherwise (`ttlMs` has no default: it must be given). */
const CACHE_DEFAULTS: Omit<CachePolicy, 'ttlMs'> = { staleIfErrorMs: 0, maxEntries: 1_000, maxBytes: 1024 * 1024 };

type Rule = { kind: 'int' | 'number'; min: number; max: number } | { kind: 'bool' } | { kind: 'codes' } | { kind: 'route' } | { kind: 'share' } | { kind: 'oneOf'; values: readonly string[] };
const int = (min: number, max: number): Rule => ({ kind: 'int', min, max });
const num = (min: number, max: number): Rule => ({ kind: 'number', min, max });
const bool: Rule = { kind: 'bool' };
const codes: Rule = { kind: 'codes' };

const RULES: Record<string, Rule> = {
  'retry.maxAttempts': int(1, 10),
  'retry.initialDelayMs': int(0, 60_000),
  'retry.maxDelayMs': int(0, 600_000),
  'retry.multiplier': num(1, 10),
  'retry.budgetRatio': num(0, 1),
  'retry.budgetMinPerSec': num(0, 10_000),
  'retry.budgetTtlMs': int(1_000, 600_000),
  'retry.retryOn': codes,
  'breaker.enabled': bool,
  'breaker.windowSize': int(1, 10_000),
  'breaker.minimumCalls': int(1, 10_000),
  'breaker.failureRateThreshold': num(0.01, 1),
  'breaker.slowCallDurationMs': int(1, 3_600_000),
  'breaker.slowCallRateThreshold': num(0.01, 1),
  'breaker.openDurationMs': int(1, 3_600_000),
  'breaker.halfOpenMaxCalls': int(1, 1_000),
  'breaker.failureCodes': codes,
  'bulkhead.maxConcurrent': int(1, 10_000_000),
  'bulkhead.maxQueue': int(0, 10_000_000),
  'bulkhead.maxWaitMs': int(0, 600_000),
  'bulkhead.maxConcurrentPerInstance': int(1, 10_000_000),
  'bulkhead.maxPerIdentity': { kind: 'share' },
  'rateLimit.ratePerSec': num(0.001, 10_000_000),
  'rateLimit.burst': int(1, 10_000_000),
  'cache.ttlMs': int(1, 86_400_000),
  'cache.staleIfErrorMs': int(0, 86_400_000),
  'cache.maxEntries': int(1, 1_000_000),
  'cache.maxBytes': int(1024, 1024 * 1024 * 1024),
  deadlineMs: int(1, 0xffffffff),
  idempotent: bool,
  fallback: { kind: 'route' },
  deadLetter: bool,
  resumable: bool,
  'durable.enabled': bool,
  'durable.delivery': { kind: 'oneOf', values: ['channel', 'response'] },
  'durable.maxDeliveries': int(1, 1_000),
  'durable.backoffInitialMs': int(0, 3_600_000),
  'durable.backoffMaxMs': int(0, 86_400_000),
  'durable.dedupeWindowMs': int(0, 86_400_000),
  'durable.maxMessages': int(1, 100_000_000),
  'durable.maxBytes': int(1024, 1024 * 1024 * 1024 * 1024),
  'durable.maxInFlightPerInstance': int(1, 65_536),
  'durable.ackTimeoutMs': int(100, 3_600_000),
};
const GROUP_KEYS: Record<string, string[]> = {
  retry: Object.keys(defaultRoutePolicy.retry),
  breaker: Object.keys(defaultRoutePolicy.breaker),
  bulkhead: Object.keys(defaultRoutePolicy.bulkhead),
  rateLimit: ['ratePerSec', 'burst'],
  cache: ['ttlMs', 'staleIfErrorMs', 'maxEntries', 'maxBytes'],
  durable: Object.keys(defaultRoutePolicy.durable),
};
const SHARE_MAX = 10_000_000;
const NULLABLE = new Set(['deadlineMs', 'idempotent', 'rateLimit', 'fallback', 'cache']);
const ROUTE_KEY = /^(\*|[A-Za-z0-9][A-Za-z0-9_.:/-]{0,254}(\.\*)?)$/;

/** Validates the `policies` config and returns a resolver from route name to policy. Throws ConfigError. */
export function compilePolicies(input: unknown): PolicyTable {
  const cfg = (input ?? {}) as Partial<PoliciesConfig>;
  if (typeof cfg !== 'object' || Array.isArray(cfg)) throw new ConfigError('policies', 'must be an object with "defaults" and "routes"');
  for (const k of Object.keys(cfg)) if (k !== 'defaults' && k !== 'routes') throw new ConfigError(`policies.${k}`, 'unknown key; known keys are policies.defaults, policies.routes');
  const defaults = overlay(defaultRoutePolicy, cfg.defaults ?? {}, 'policies.defaults');
  const routes = cfg.routes ?? {};
  if (typeof routes !== 'object' || Array.isArray(routes)) throw new ConfigError('policies.routes', 'must be an object keyed by route or prefix pattern (e.g. "payment.*")');
  const exact = new Map<string, RoutePolicyInput>();
  const prefixes: Array<[string, RoutePolicyInput]> = [];
  for (const [key, value] of Object.entries(routes)) {
    if (!ROUTE_KEY.test(key)) throw new ConfigError(`policies.routes.${key}`, 'must be a route name or a prefix pattern ending in ".*"');
    // Validate each entry on its own so errors name the right key.
    overlay(defaults, value, `policies.routes.${key}`);
    if (key === '*') prefixes.push(['', value]);
    else if (key.endsWith('.*')) prefixes.push([key.slice(0, -1), value]);
    else exact.set(key, value);
  }
  prefixes.sort((a, b) => a[0].length - b[0].length);
  return new PolicyTable(defaults, exact, prefixes);
}

export class PolicyTable {
  private readonly cache = new Map<string, RoutePolicy>();

  constructor(
    readonly defaults: RoutePolicy,
    private readonly exact: ReadonlyMap<string, RoutePolicyInput>,
    private readonly prefixes: ReadonlyArray<readonly [string, RoutePolicyInput]>,
  ) {}

  /** The resolved policy of a route (cached; bounded by the routes ever asked for, capped at 10,000). */
  for(route: string): RoutePolicy {
    const cached = this.cache.get(route);
    if (cached) return cached;
    let policy = this.defaults;
    for (const [prefix, input] of this.prefixes) if (route.startsWith(prefix)) policy = overlay(policy, input, `policies.routes.${prefix}*`);
    const own = this.exact.get(route);
    if (own) policy = overlay(policy, own, `policies.routes.${route}`);
    if (this.cache.size < 10_000) this.cache.set(route, policy);
    return policy;
  }

  /** Whether any route's policy (defaults included) dead-letters: the queue is opened only then. */
  get anyDeadLetter(): boolean {
    if (this.defaults.deadLetter) return true;
    return [...this.exact.values(), ...this.prefixes.map(([, p]) => p)].some((p) => p.deadLetter === true);
  }

  /** Whether any route's policy (defaults included) is durable: the durable backend is opened only then. */
  get anyDurable(): boolean {
    const on = (p: RoutePolicyInput) => p.durable === true || (typeof p.durable === 'object' && p.durable?.enabled === true);
    return this.defaults.durable.enabled || [...this.exact.values(), ...this.prefixes.map(([, p]) => p)].some(on);
  }

  /** Whether any route's policy (defaults included) has a rate limit: a fleet shares rate limits only then. */
  get anyRateLimit(): boolean {
    if (this.defaults.rateLimit) return true;
    return [...this.exact.values(), ...this.prefixes.map(([, p]) => p)].some((p) => typeof p.rateLimit === 'object' && p.rateLimit !== null);
  }

  /** Routes named explicitly in the config. */
  get configuredRoutes(): string[] {
    return [...this.exact.keys()];
  }
}

function overlay(base: RoutePolicy, input: RoutePolicyInput, path: string): RoutePolicy {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) throw new ConfigError(path, 'must be an object');
  const out = structuredClone(base) as unknown as Record<string, unknown>;
  for (const [key, value] of Object.entries(input)) {
    const at = `${path}.${key}`;
    if (!Object.hasOwn(out, key)) throw new ConfigError(at, `unknown key; known keys are ${Object.keys(out).join(', ')}`);
    if (value === null) {
      if (!NULLABLE.has(key)) throw new ConfigError(at, 'must not be null');
      out[key] = null;
      continue;
    }
    const group = (base as unknown as Record<string, unknown>)[key];
    if (key === 'rateLimit' && group === null) {
      // Enabling a rate limit needs both numbers.
      const rl = value as Record<string, unknown>;
      if (typeof rl !== 'object' || rl.ratePerSec === undefined || rl.burst === undefined) {
        throw new ConfigError(at, 'needs both "ratePerSec" and "burst"');
      }
      out[key] = {};
    }
    if (key === 'cache' && group === null) {
      // Enabling a cache needs its time to live; the bounds have defaults.
      const c = value as Record<string, unknown>;
      if (typeof c !== 'object' || Array.isArray(c) || c.ttlMs === undefined) throw new ConfigError(at, 'needs "ttlMs"');
      out[key] = { ...CACHE_DEFAULTS };
    }
    if (RULES[key]) {
      out[key] = check(RULES[key], value, at);
      continue;
    }
    // `durable: true` and `durable: false` are short for the group's `enabled`.
    if (key === 'durable' && typeof value === 'boolean') {
      (out[key] as Record<string, unknown>).enabled = value;
      continue;
    }
    if (typeof value !== 'object' || Array.isArray(value)) throw new ConfigError(at, 'must be an object');
    const target = out[key] as Record<string, unknown>;
    const known = GROUP_KEYS[key] ?? [];
    for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
      const rule = RULES[`${key}.${k}`];
      if (!rule || !known.includes(k)) throw new ConfigError(`${at}.${k}`, `unknown key; known keys are ${known.map((n) => `${key}.${n}`).join(', ')}`);
      target[k] = check(rule, v, `${at}.${k}`);
    }
  }
  const policy = out as unknown as RoutePolicy;
  if (policy.retry.initialDelayMs > policy.retry.maxDelayMs) throw new ConfigError(`${path}.retry.initialDelayMs`, `must not exceed retry.maxDelayMs (${policy.retry.maxDelayMs})`);
  if (policy.cache && policy.idempotent === false) throw new ConfigError(`${path}.cache`, 'a route declared not idempotent (idempotent: false) cannot be cached');
  if (policy.durable.backoffInitialMs > policy.durable.backoffMaxMs) throw new ConfigError(`${path}.durable.backoffInitialMs`, `must not exceed durable.backoffMaxMs (${policy.durable.backoffMaxMs})`);
  if (policy.breaker.minimumCalls > policy.breaker.windowSize) throw new ConfigError(`${path}.breaker.minimumCalls`, `must not exceed breaker.windowSize (${policy.breaker.windowSize})`);
  return policy;
}

function check(rule: Rule, value: unknown, at: string): unknown {
  switch (rule.kind) {
    case 'int':
    case 'number':
      if (typeof value !== 'number' || !Number.isFinite(value) || (rule.kind === 'int' && !Number.isInteger(value)) || value < rule.min || value > rule.max) {
        throw new ConfigError(at, `must be ${rule.kind === 'int' ? 'an integer' : 'a number'} from ${rule.min} to ${rule.max}, got ${JSON.stringify(value)}`);
      }
      return value;
    case 'bool':
      if (typeof value !== 'boolean') throw new ConfigError(at, `must be true or false, got ${JSON.stringify(value)}`);
      return value;
    case 'codes':
      if (!Array.isArray(value) || !value.every((c) => typeof c === 'string' && isErrorCode(c))) {
        throw new ConfigError(at, `must be an array of Sluice error codes (see docs/protocol.md), got ${JSON.stringify(value)}`);
      }
      return value;
    case 'share':
      // Fractions below 1 scale with maxConcurrent; whole numbers are counts. 1.5 is neither.
      if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0 || value > SHARE_MAX || (value > 1 && !Number.isInteger(value))) {
        throw new ConfigError(at, `must be a fraction of maxConcurrent above 0 and below 1, or an integer count from 1 to ${SHARE_MAX}, got ${JSON.stringify(value)}`);
      }
      return value;
    case 'oneOf':
      if (typeof value !== 'string' || !rule.values.includes(value)) throw new ConfigError(at, `must be one of ${rule.values.map((v) => JSON.stringify(v)).join(', ')}, got ${JSON.stringify(value)}`);
      return value;
    case 'route':
      if (typeof value !== 'string' || !/^[A-Za-z0-9][A-Za-z0-9_.:/-]{0,254}$/.test(value)) throw new ConfigError(at, `must be a route name, got ${JSON.stringify(value)}`);
      return value;
  }
}

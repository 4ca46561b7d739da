/**
 * The live state behind each route's policy: its bulkhead, retry budget,
 * rate limiter and one circuit breaker per instance. Created on first use
 * for routes that exist (registered or served locally), so the number of
 * records is bounded by the routes, not by what clients ask for.
 */
import { Bulkhead } from '../resilience/bulkhead.js';
import { IdentityShare, shareLimit } from '../resilience/identity-share.js';
import { CircuitBreaker, type BreakerState } from '../resilience/circuit-breaker.js';
import { KeyedRateLimiter } from '../resilience/rate-limiter.js';
import { RetryBudget } from '../resilience/retry-budget.js';
import { systemClock, type Clock } from '../resilience/clock.js';
import type { Instance } from '../broker/registry.js';
import type { PolicyTable, RoutePolicy } from './policy-config.js';

/** Per-route counters that are not kept by the primitives themselves. */
export interface RouteCounters {
  retries: number;
  retryBudgetExhausted: number;
  rateLimited: number;
  deadlineExceeded: number;
  fallbacks: number;
}

export class RouteRuntime {
  readonly bulkhead: Bulkhead;
  /** Each client identity's share of the bulkhead (policy `bulkhead.maxPerIdentity`). */
  readonly share: IdentityShare;
  readonly budget: RetryBudget;
  readonly limiter: KeyedRateLimiter | undefined;
  readonly counters: RouteCounters = { retries: 0, retryBudgetExhausted: 0, rateLimited: 0, deadlineExceeded: 0, fallbacks: 0 };
  private readonly breakers = new Map<Instance, CircuitBreaker>();
  private readonly active = new Map<Instance, number>();
  /** `activeOn` and `breaker` as functions made once per route, for the attempt policy's pick (no closures per request). */
  readonly activeOnFn = (instance: Instance): number => this.activeOn(instance);
  readonly breakerFn = (instance: Instance): CircuitBreaker | undefined => this.breaker(instance);

  constructor(
    readonly route: string,
    readonly policy: RoutePolicy,
    private readonly clock: Clock,
  ) {
    this.bulkhead = new Bulkhead({ maxConcurrent: policy.bulkhead.maxConcurrent, maxQueue: policy.bulkhead.maxQueue });
    this.share = new IdentityShare(shareLimit(policy.bulkhead.maxPerIdentity, policy.bulkhead.maxConcurrent));
    this.budget = new RetryBudget(
      { ratio: policy.retry.budgetRatio, minRetriesPerSec: policy.retry.budgetMinPerSec, ttlMs: policy.retry.budgetTtlMs },
      clock,
    );
    this.limiter = policy.rateLimit ? new KeyedRateLimiter({ ...policy.rateLimit, maxKeys: 10_000 }, clock) : undefined;
  }

  /** The breaker of this route on one instance; undefined when breakers are disabled for the route. */
  breaker(instance: Instance): CircuitBreaker | undefined {
    if (!this.policy.breaker.enabled) return undefined;
    let b = this.breakers.get(instance);
    if (!b) {
      const { enabled: _enabled, failureCodes: _codes, ...options } = this.policy.breaker;
      b = new CircuitBreaker(options, this.clock);
      this.breakers.set(instance, b);
    }
    return b;
  }

  /** Breaker states per instance, for metrics and the stats stream. */
  breakerStates(): Array<{ instance: Instance; state: BreakerState; breaker: CircuitBreaker }> {
    return [...this.breakers].map(([instance, breaker]) => ({ instance, state: breaker.state, breaker }));
  }

  /** The route's overall breaker state: open when every known instance's breaker is open. */
  get breakerState(): BreakerState {
    const states = [...this.breakers.values()].map((b) => b.state);
    if (states.length === 0 || states.some((s) => s === 'closed')) return 'closed';
    return states.every((s) => s === 'open') ? 'open' : 'half-open';
  }

  /** Interactions of this route in flight on `instance` (for the per-instance bulkhead). */
  activeOn(instance: Instance): number {
    return this.active.get(instance) ?? 0;
  }

  enter(instance: Instance): void {
    this.active.set(instance, this.activeOn(instance) + 1);
  }

  leave(instance: Instance): void {
    const n = this.activeOn(instance) - 1;
    if (n > 0) this.active.set(instance, n);
    else this.active.delete(instance);
  }

  forget(instance: Instance): void {
    this.breakers.delete(instance);
    this.active.delete(instance);
  }
}

export class PolicyRuntime {
  private readonly routes = new Map<string, RouteRuntime>();

  constructor(
    readonly table: PolicyTable,
    private readonly clock: Clock = systemClock,
  ) {}

  /** The runtime of an existing route (the caller checks the route exists). */
  for(route: string): RouteRuntime {
    let r = this.routes.get(route);
    if (!r) {
      r = new RouteRuntime(route, this.table.for(route), this.clock);
      this.routes.set(route, r);
    }
    return r;
  }

  /** A route's breaker state for stats: `closed` for routes that have seen no traffic yet. */
  breakerState(route: string): BreakerState {
    return this.routes.get(route)?.breakerState ?? 'closed';
  }

  all(): IterableIterator<RouteRuntime> {
    return this.routes.values();
  }

  /** An instance left: drop its breakers. */
  forgetInstance(instance: Instance): void {
    for (const r of this.routes.values()) r.forget(instance);
  }

  /**
   * Drops the state of routes that no instance serves any more and that hold
   * no interaction: services that come and go with ever-new route names do
   * not grow the gateway. A route that comes back starts with fresh state.
   */
  prune(served: (route: string) => boolean): void {
    for (const [route, r] of this.routes) {
      if (!served(route) && r.bulkhead.active === 0 && r.bulkhead.queued === 0 && r.share.identities === 0) this.routes.delete(route);
    }
  }
}

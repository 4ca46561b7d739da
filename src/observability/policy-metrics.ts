/**
 * Prometheus view of the resilience policies: breaker state and counters per
 * route and instance, bulkhead occupancy, retries, rate limiting, deadlines,
 * fallbacks and the dead-letter queue. Everything is read from the live
 * objects at scrape time; nothing is counted twice.
 */
import client from 'prom-client';
import type { PolicyRuntime } from '../policy/route-runtime.js';
import type { BreakerState } from '../resilience/circuit-breaker.js';

/** What the dead-letter queue reports, when there is one. */
export interface DeadLetterStats {
  pending(): number;
  counters(): { added: number; refused: number; replayed: number; replayFailures: number };
}

const STATE_VALUE: Record<BreakerState, number> = { closed: 0, 'half-open': 1, open: 2 };

/**
 * Registers the policy metrics on `registry`. `deadLettered` gives the
 * requests dead-lettered so far per route, from the one place that stores
 * them (src/deadletter/rules.ts), whichever way they failed.
 */
export function registerPolicyMetrics(
  registry: client.Registry,
  runtime: PolicyRuntime,
  deadLetters: () => DeadLetterStats | undefined,
  deadLettered: () => ReadonlyMap<string, number> = () => new Map(),
): void {
  const registers = [registry];
  const perRoute = (name: string, help: string, read: (r: ReturnType<PolicyRuntime['for']>) => number, type: 'counter' | 'gauge' = 'counter') => {
    const Metric = type === 'counter' ? client.Counter : client.Gauge;
    new Metric({
      name,
      help,
      labelNames: ['route'],
      registers,
      collect(this: client.Counter<'route'> | client.Gauge<'route'>) {
        this.reset();
        for (const r of runtime.all()) (this as client.Gauge<'route'>).inc({ route: r.route }, read(r));
      },
    });
  };
  new client.Gauge({
    name: 'sluice_breaker_state',
    help: 'Circuit breaker state per route and instance: 0 closed, 1 half-open, 2 open',
    labelNames: ['route', 'instance'],
    registers,
    collect() {
      this.reset();
      for (const r of runtime.all()) for (const b of r.breakerStates()) this.set({ route: r.route, instance: b.instance.id }, STATE_VALUE[b.state]);
    },
  });
  for (const [key, help] of [
    ['opened', 'Times the breaker opened'],
    ['rejected', 'Calls refused by an open breaker'],
    ['failures', 'Calls the breaker judged failed'],
    ['slow', 'Calls the breaker judged slow'],
  ] as const) {
    new client.Counter({
      name: `sluice_breaker_${key}_total`,
      help: `${help}, per route and instance`,
      labelNames: ['route', 'instance'],
      registers,
      collect() {
        this.reset();
        for (const r of runtime.all()) for (const b of r.breakerStates()) this.inc({ route: r.route, instance: b.instance.id }, b.breaker.counters[key]);
      },
    });
  }
  perRoute('sluice_bulkhead_active', 'Interactions holding a bulkhead slot per route', (r) => r.bulkhead.active, 'gauge');
  perRoute('sluice_bulkhead_queued', 'Interactions waiting for a bulkhead slot per route', (r) => r.bulkhead.queued, 'gauge');
  perRoute('sluice_bulkhead_rejected_total', 'Interactions refused OVERLOADED by the route bulkhead (queue full or wait timed out)', (r) => r.bulkhead.counters.rejected + r.bulkhead.counters.timedOut);
  perRoute('sluice_identity_share_rejected_total', 'Interactions refused OVERLOADED because their client identity held its whole share of the route (bulkhead.maxPerIdentity)', (r) => r.share.rejected);
  perRoute('sluice_retries_total', 'Retries sent to another instance per route', (r) => r.counters.retries);
  perRoute('sluice_retry_budget_exhausted_total', 'Retries not made because the route retry budget was spent', (r) => r.counters.retryBudgetExhausted);
  perRoute('sluice_rate_limited_total', 'Requests refused OVERLOADED by the per-client rate limit per route', (r) => r.counters.rateLimited);
  perRoute('sluice_deadline_exceeded_total', 'Interactions ended DEADLINE_EXCEEDED by the gateway per route', (r) => r.counters.deadlineExceeded);
  perRoute('sluice_fallbacks_total', 'Interactions sent to the fallback route while breakers were open', (r) => r.counters.fallbacks);
  new client.Counter({
    name: 'sluice_dead_lettered_total',
    help: 'Failed requests stored in the dead-letter queue per route (refused for no instance, failed after their attempts, or fire-and-forget); at most 1000 routes, then (other)',
    labelNames: ['route'],
    registers,
    collect() {
      this.reset();
      for (const [route, n] of deadLettered()) this.inc({ route }, n);
    },
  });
  new client.Gauge({
    name: 'sluice_dead_letters_pending',
    help: 'Entries in the dead-letter queue waiting for replay',
    registers,
    collect() {
      this.set(deadLetters()?.pending() ?? 0);
    },
  });
  new client.Counter({
    name: 'sluice_dead_letter_events_total',
    help: 'Dead-letter queue events: added, refused (queue full), replayed, replay_failed',
    labelNames: ['event'],
    registers,
    collect() {
      this.reset();
      const c = deadLetters()?.counters();
      if (!c) return;
      this.inc({ event: 'added' }, c.added);
      this.inc({ event: 'refused' }, c.refused);
      this.inc({ event: 'replayed' }, c.replayed);
      this.inc({ event: 'replay_failed' }, c.replayFailures);
    },
  });
}

/**
 * The gateway policies the checkout demo runs with (docs/checkout.md,
 * docs/resilience.md). Compensation steps must never be lost: when one keeps
 * failing at the gateway it is dead-lettered, visible in `dlq.list`, and an
 * operator can replay it at once (the saga also keeps retrying it by itself;
 * both are safe because refund and release are idempotent per order).
 * Forward steps are not dead-lettered: when they fail for good the saga
 * compensates instead.
 *
 * `checkout.submit` channels are long-lived and each order instance takes
 * only `maxSubmitChannels` of them: without a share, one client holding that
 * many channels leaves every other client OVERLOADED. A quarter of one
 * instance's channels per client identity keeps room for at least three
 * others even with a single order instance.
 *
 * `checkout.submit` is durable (docs/resilience.md#durable-routes): the
 * gateway persists each command and acknowledges it at once, then delivers
 * it over one channel per order instance as fast as that instance pulls, so
 * submits keep being accepted while the order service is down and every
 * accepted command becomes one order when it is back (the order service's
 * idempotency key makes a redelivery answer the same order). The client
 * follows its order by the id the key derives (`orderIdFor`).
 *
 * The saga's step routes get a breaker that judges a window large enough for
 * a flaky but working dependency. Failures answer at once while successes
 * take the dependency's latency, so in the first L ms of load the window
 * holds only failures: at 100 orders/s, inventory at 2 s and 20% failures,
 * about 50 failed attempts (gateway retries included) arrive before the first
 * success. The default window (20 calls, judged from 10) opened on them. With
 * 250 calls before judging, the window holds about 80 failures in 250 (32%)
 * when it is first judged, under the 50% threshold, and a window of 500 at a
 * steady 20% failure rate reaches 50% with a probability of about 1e-50. A
 * dependency that is really down (every call failing) still opens it after
 * 250 calls: a quarter of a second of saga traffic at that rate. Twenty
 * probes when half-open judge recovery on a rate instead of a coin toss:
 * at 20% failures, 10 of 20 failing has a probability of 0.3%, where 2 of 3
 * failing had 10%.
 */
import type { PoliciesConfig } from 'sluice';
import { defaultOrderOptions } from './config.js';

/** `checkout.submit` channels one client identity may hold at the gateway: 16 with the default 64 per order instance. */
export const SUBMIT_CHANNELS_PER_IDENTITY = Math.max(1, Math.floor(defaultOrderOptions.maxSubmitChannels / 4));

/** The breaker of the saga's step routes (see above for the numbers). */
export const stepBreaker = { windowSize: 500, minimumCalls: 250, halfOpenMaxCalls: 20 } as const;

export const checkoutPolicies: PoliciesConfig = {
  defaults: {},
  routes: {
    'checkout.place': { bulkhead: { maxConcurrent: 2_000, maxQueue: 1_000, maxWaitMs: 2_000 } },
    'checkout.submit': { durable: true, bulkhead: { maxPerIdentity: SUBMIT_CHANNELS_PER_IDENTITY } },
    'payment.authorize': { breaker: { ...stepBreaker } },
    'inventory.reserve': { breaker: { ...stepBreaker } },
    'payment.refund': { deadLetter: true, retry: { maxAttempts: 3 }, breaker: { ...stepBreaker } },
    'inventory.release': { deadLetter: true, retry: { maxAttempts: 3 }, breaker: { ...stepBreaker } },
    // The stock list is read often and changes slowly: a second's staleness is fine, and a minute's beats an error.
    'inventory.stock': { cache: { ttlMs: 1_000, staleIfErrorMs: 60_000 } },
  },
};

/** The same policies as `--policy ROUTE:KEY=VALUE` flags for `sluice gateway`. */
export function policyFlags(policies: PoliciesConfig): string[] {
  const flags: string[] = [];
  const walk = (route: string, prefix: string, value: unknown) => {
    if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
      for (const [k, v] of Object.entries(value)) walk(route, prefix ? `${prefix}.${k}` : k, v);
    } else {
      flags.push('--policy', `${route}:${prefix}=${JSON.stringify(value)}`);
    }
  };
  walk('defaults', '', policies.defaults);
  for (const [route, policy] of Object.entries(policies.routes)) walk(route, '', policy);
  return flags;
}

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
 */
import type { PoliciesConfig } from '../policy/policy-config.js';
import { defaultOrderOptions } from './config.js';

/** `checkout.submit` channels one client identity may hold at the gateway: 16 with the default 64 per order instance. */
export const SUBMIT_CHANNELS_PER_IDENTITY = Math.max(1, Math.floor(defaultOrderOptions.maxSubmitChannels / 4));

export const checkoutPolicies: PoliciesConfig = {
  defaults: {},
  routes: {
    'checkout.place': { bulkhead: { maxConcurrent: 2_000, maxQueue: 1_000, maxWaitMs: 2_000 } },
    'checkout.submit': { bulkhead: { maxPerIdentity: SUBMIT_CHANNELS_PER_IDENTITY } },
    'payment.refund': { deadLetter: true, retry: { maxAttempts: 3 } },
    'inventory.release': { deadLetter: true, retry: { maxAttempts: 3 } },
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

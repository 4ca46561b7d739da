/**
 * The gateway policies the checkout demo runs with (docs/checkout.md,
 * docs/resilience.md). Compensation steps must never be lost: when one keeps
 * failing at the gateway it is dead-lettered, visible in `dlq.list`, and an
 * operator can replay it at once (the saga also keeps retrying it by itself;
 * both are safe because refund and release are idempotent per order).
 * Forward steps are not dead-lettered: when they fail for good the saga
 * compensates instead.
 */
import type { PoliciesConfig } from '../policy/policy-config.js';

export const checkoutPolicies: PoliciesConfig = {
  defaults: {},
  routes: {
    'checkout.place': { bulkhead: { maxConcurrent: 2_000, maxQueue: 1_000, maxWaitMs: 2_000 } },
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

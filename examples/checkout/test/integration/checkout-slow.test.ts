/**
 * A slow dependency that does not fail costs latency, not orders: with
 * inventory answering after 1.5 s (within the step deadline) and more orders
 * at once than the old fixed saga slots (32), under the demo's gateway
 * policies, every order confirms with one authorize and one reserve call and
 * no cancellation event, no step attempt fails (so no saga backs off), no
 * step call is refused by the gateway and deferred, and the breaker never
 * opens. Counted (the runner's counters, the services' call counts, the
 * gateway's breaker metrics), not timed.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { checkoutPolicies } from '../../src/gateway-policies.js';
import { startCheckoutStack, types, type CheckoutStack } from '../helpers/checkout.js';
import { eventually, metricValue, metricsText } from '../../../../test/helpers/harness.js';

type Stats = {
  orders: { total: number; confirmed: number; cancelled: number; pending: number };
  sagas: { active: number; max: number; deferrals: number; failedAttempts: number; timeline: { ended: number; avgMs: Record<string, number> } };
  dependencies: Record<string, { limit: number; inFlight: number }>;
};

let stack: CheckoutStack | undefined;
afterEach(async () => {
  await stack?.close();
  stack = undefined;
});

describe('checkout with a slow, healthy inventory', () => {
  it('confirms every order without cancelling, retrying or deferring any saga for slowness alone', async () => {
    const LATENCY_MS = 1_500;
    const s = (stack = await startCheckoutStack({
      gateway: { policies: checkoutPolicies },
      // A step deadline far above the latency: on a loaded test machine a burst of 80 orders can make even
      // payment (no latency) answer in seconds, and a timeout there is not what this test is about.
      flags: { inventory: ['--latency-ms', String(LATENCY_MS)], order: ['--step-deadline-ms', '30000'] },
    }));
    const N = 80;
    const ids = await Promise.all(Array.from({ length: N }, (_, i) => s.place([{ sku: 'A1', qty: 1 }], `slow-${i}`)));
    const stats = await eventually(
      async () => {
        const st = await s.client.requestResponse<Stats>('orders.stats', {});
        return st.orders.pending === 0 ? st : undefined;
      },
      'every saga to end',
      600,
      100,
    );
    expect(stats.orders).toMatchObject({ total: N, confirmed: N, cancelled: 0 });
    // No step call was refused by the gateway and deferred, none failed (so none backed off or gave up).
    expect(stats.sagas.timeline.ended).toBe(N);
    expect(stats.sagas.deferrals).toBe(0);
    expect(stats.sagas.failedAttempts).toBe(0);
    expect(stats.sagas.timeline.avgMs.deferred).toBe(0);
    expect(stats.sagas.timeline.avgMs.backoff).toBe(0);
    // Each saga spent at least the latency in inventory: the time went where the slowness is.
    expect(stats.sagas.timeline.avgMs.inventory).toBeGreaterThanOrEqual(LATENCY_MS);
    for (const orderId of ids) {
      const r = await s.client.requestResponse<{ status: string; calls: Record<string, number> }>('inventory.get', { orderId });
      expect(r).toMatchObject({ status: 'RESERVED', calls: { 'inventory.reserve': 1 } });
      const p = await s.client.requestResponse<{ calls: Record<string, number> }>('payment.get', { orderId });
      expect(p.calls).toEqual({ 'payment.authorize': 1 });
    }
    // Each order's log: placed, authorized, reserved, confirmed; never a cancellation or a compensation.
    for (const orderId of ids.slice(0, 10)) expect(types(await s.events(orderId))).toEqual(['OrderPlaced', 'PaymentAuthorized', 'StockReserved', 'OrderConfirmed']);
    const metrics = await metricsText(s.gateway);
    expect(metricValue(metrics, 'sluice_breaker_opened_total', { route: 'inventory.reserve' }) ?? 0).toBe(0);
    expect(metricValue(metrics, 'sluice_breaker_failures_total', { route: 'inventory.reserve' }) ?? 0).toBe(0);
  }, 180_000);
});

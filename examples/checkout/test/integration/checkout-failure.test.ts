/**
 * Payment failure the hard way: every payment call fails (failure rate 1).
 * The saga gives up on authorize after its bounded attempts, and compensates
 * anyway (a timed-out authorize may have charged). The compensation cannot
 * succeed while payment is failing, so it is parked and retried, never
 * dropped; once payment is healthy again the order ends cancelled, nothing
 * was charged, and a straggling authorize for it is declined.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { OrderEvent } from '../../src/events.js';
import { startCheckoutStack, types, type CheckoutStack } from '../helpers/checkout.js';
import { eventually } from '../../../../test/helpers/harness.js';

const ATTEMPTS = 3;

let s: CheckoutStack;
beforeAll(async () => {
  s = await startCheckoutStack({
    flags: {
      payment: ['--failure-rate', '1'],
      order: ['--step-attempts', String(ATTEMPTS), '--retry-initial-delay-ms', '20', '--retry-max-delay-ms', '100', '--compensation-retry-ms', '300'],
    },
  });
}, 60_000);
afterAll(async () => s?.close());

type Payment = { status: string | null; ledger: unknown[]; calls: Record<string, number> };

describe('checkout with a failing payment service', () => {
  it('gives up on authorize after bounded attempts, keeps retrying the compensation, and cancels once payment recovers', async () => {
    const orderId = await s.place([{ sku: 'A1', qty: 1 }]);
    const watch = s.client.iterateStream<OrderEvent>('orders.watch', { orderId }, { prefetch: 1 });
    expect((await watch.next()).value).toMatchObject({ type: 'OrderPlaced' });
    const failed = (await watch.next()).value as OrderEvent;
    expect(failed).toMatchObject({ type: 'PaymentFailed', reason: expect.stringContaining(`payment.authorize failed ${ATTEMPTS} times`) });
    expect(failed).toMatchObject({ reason: expect.stringContaining('simulated failure') });

    let payment = await s.client.requestResponse<Payment>('payment.get', { orderId });
    // At least one call per saga attempt (the gateway may retry each one too: the route is idempotent).
    expect(payment.calls['payment.authorize']).toBeGreaterThanOrEqual(ATTEMPTS);
    expect(payment.ledger).toEqual([]);
    // The refund fails too: the saga parks it and comes back to it (more refund calls than one run's attempts).
    await eventually(async () => (await s.client.requestResponse<{ sagas: { parked: number } }>('orders.stats', {})).sagas.parked === 1, 'the refund to be parked', 400);
    expect(await s.client.requestResponse('orders.get', { orderId })).toMatchObject({ status: 'PENDING', payment: 'FAILED' });

    // Payment recovers (same data dir, no failures).
    await s.children.payment.stop(5_000);
    await s.start('payment', []);
    const rest: OrderEvent[] = [];
    for await (const e of watch) rest.push(e);
    // Nothing had been charged, so no PaymentRefunded: the refund voided the order at payment.
    expect(types(rest)).toEqual(['OrderCancelled']);
    expect(rest[0]).toMatchObject({ reason: expect.stringContaining('payment failed') });

    payment = await s.client.requestResponse<Payment>('payment.get', { orderId });
    expect(payment).toMatchObject({ status: 'VOIDED', ledger: [] });
    // A straggling authorize (a retry delayed somewhere) can no longer charge this order.
    const late = await s.client.requestResponse<{ status: string }>('payment.authorize', { orderId, amountCents: 2450 });
    expect(late.status).toBe('DECLINED');
    expect((await s.client.requestResponse<Payment>('payment.get', { orderId })).ledger).toEqual([]);
    expect(await s.client.requestResponse('orders.get', { orderId })).toMatchObject({ status: 'CANCELLED', payment: 'FAILED' });
  });
});

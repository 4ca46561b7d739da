/**
 * Durability: kill -9 of a service mid-saga, then a restart on the same data
 * dir. The saga resumes where it stopped and completes exactly once: one
 * charge, one reservation, each event once, although the interrupted steps
 * were delivered more than once.
 *
 * Payment and inventory answer slowly (latency knob), after committing their
 * work, so the kill lands in the window where a service has done the work and
 * the order service has not yet recorded the answer: the case that needs
 * idempotent steps.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCheckoutStack, types, type CheckoutStack } from '../helpers/checkout.js';
import { eventually } from '../../../../test/helpers/harness.js';

const LATENCY_MS = 1_500;

type Payment = { status: string | null; ledger: { kind: string; amountCents: number }[]; calls: Record<string, number> };
type Reservation = { status: string | null; calls: Record<string, number> };

let s: CheckoutStack;
beforeAll(async () => {
  s = await startCheckoutStack({
    flags: {
      payment: ['--latency-ms', String(LATENCY_MS)],
      inventory: ['--latency-ms', String(LATENCY_MS)],
      // Enough attempts to outlast a service restart on a loaded 2-core CI machine (about 30 s of
      // jittered backoff against a restart of a few seconds): the saga must wait, not give up.
      order: ['--step-attempts', '100', '--retry-initial-delay-ms', '50', '--retry-max-delay-ms', '600'],
    },
  });
}, 60_000);
afterAll(async () => s?.close());

const payment = (orderId: string) => s.client.requestResponse<Payment>('payment.get', { orderId });
const reservation = (orderId: string) => s.client.requestResponse<Reservation>('inventory.get', { orderId });
const stock = async (sku: string) => (await s.client.requestResponse<{ items: { sku: string; available: number }[] }>('inventory.stock', {})).items.find((i) => i.sku === sku)!.available;
const view = (orderId: string) => s.client.requestResponse<{ status: string; payment: string; stock: string }>('orders.get', { orderId });

// Each test kills and restarts services (a restart opens its store and warms it up) around 1.5 s answers:
// on a loaded 2-core machine that alone took most of the default 30 s.
describe('checkout survives kill -9', () => {
  it('of the order service mid-payment and again mid-reservation: the saga completes exactly once', async () => {
    const before = await stock('C3');
    const orderId = await s.place([{ sku: 'C3', qty: 3 }]);

    // Payment has charged and is slow to answer: kill the order service before it records the answer.
    await eventually(async () => (await payment(orderId)).ledger.length === 1, 'payment to charge');
    expect((await view(orderId)).payment).toBe('PENDING');
    await s.kill('order');
    await s.start('order');

    // The resumed saga re-sends authorize (same answer, no second charge), then reserves; kill it again there.
    await eventually(async () => (await reservation(orderId)).status === 'RESERVED', 'inventory to reserve', 400);
    expect((await view(orderId)).stock).toBe('PENDING');
    await s.kill('order');
    await s.start('order');

    const events = await s.events(orderId);
    expect(types(events)).toEqual(['OrderPlaced', 'PaymentAuthorized', 'StockReserved', 'OrderConfirmed']);
    expect(events.map((e) => e.seq)).toEqual([1, 2, 3, 4]);
    const p = await payment(orderId);
    expect(p.ledger.map((l) => l.kind)).toEqual(['CHARGE']);
    // Delivered at least twice, effective once.
    expect(p.calls['payment.authorize']).toBeGreaterThanOrEqual(2);
    const r = await reservation(orderId);
    expect(r.status).toBe('RESERVED');
    expect(r.calls['inventory.reserve']).toBeGreaterThanOrEqual(2);
    expect(await stock('C3')).toBe(before - 3);
    expect(await view(orderId)).toMatchObject({ status: 'CONFIRMED', payment: 'AUTHORIZED', stock: 'RESERVED' });
  }, 120_000);

  it('of the payment service after it charged: the charge is kept, the saga resumes once it is back, one charge', async () => {
    const orderId = await s.place([{ sku: 'D4', qty: 1 }]);
    await eventually(async () => (await payment(orderId)).ledger.length === 1, 'payment to charge');
    await s.kill('payment');
    await s.start('payment');
    const events = await s.events(orderId);
    expect(types(events)).toEqual(['OrderPlaced', 'PaymentAuthorized', 'StockReserved', 'OrderConfirmed']);
    const p = await payment(orderId);
    expect(p.status).toBe('AUTHORIZED');
    expect(p.ledger.map((l) => l.kind)).toEqual(['CHARGE']);
    expect(p.calls['payment.authorize']).toBeGreaterThanOrEqual(2);
  }, 120_000);

  it('of the order service right after it accepted orders: nothing accepted is lost', async () => {
    const placed = await Promise.all(Array.from({ length: 20 }, (_, i) => s.place([{ sku: 'A1', qty: 1 + (i % 3) }])));
    await s.kill('order');
    await s.start('order');
    for (const orderId of placed) {
      const events = await s.events(orderId);
      expect(types(events)).toEqual(['OrderPlaced', 'PaymentAuthorized', 'StockReserved', 'OrderConfirmed']);
      expect((await payment(orderId)).ledger).toHaveLength(1);
    }
  }, 120_000);
});

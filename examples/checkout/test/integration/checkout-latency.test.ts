/**
 * The motivating failure, reversed: with a slow inventory service,
 * `checkout.place` stays fast because it only validates and records; the
 * saga absorbs the latency afterwards.
 *
 * Proved by cause, not by the clock: inventory here is the test's own
 * service, which holds every `inventory.reserve` until the test releases it.
 * Every place is answered, PENDING, while inventory calls of earlier orders
 * are held and none has been answered, so no place can have waited for
 * inventory; once released, every order confirms. (How much faster placing
 * is than the synchronous chain is the sync-chain benchmark's to measure.)
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectService, type Service } from 'sluice';
import type { OrderEvent } from '../../src/events.js';
import { startCheckoutStack, types, type CheckoutStack } from '../helpers/checkout.js';

/** An inventory whose reserves wait for the test: `held` by order id, each released on demand. */
function heldInventory() {
  const held = new Map<string, () => void>();
  let answered = 0;
  const arrivals: Array<() => void> = [];
  const routes = {
    'inventory.reserve': {
      idempotent: true,
      async requestResponse(data: unknown) {
        const { orderId, items } = data as { orderId: string; items: unknown };
        // A retry of a held call (there should be none: the step deadline outlasts the test) joins the hold.
        const released = new Promise<void>((resolve) => {
          const before = held.get(orderId);
          held.set(orderId, () => (before?.(), resolve()));
        });
        for (const wake of arrivals.splice(0)) wake();
        await released;
        answered++;
        return { status: 'RESERVED', items };
      },
    },
    'inventory.release': { idempotent: true, requestResponse: () => ({ released: false }) },
  };
  return {
    routes,
    held,
    get answered() {
      return answered;
    },
    /** Resolves once `orderId`'s reserve is held (bounded by the test's timeout). */
    async arrived(orderId: string): Promise<void> {
      while (!held.has(orderId)) await new Promise<void>((resolve) => arrivals.push(resolve));
    },
    release(orderId: string): void {
      held.get(orderId)?.();
    },
  };
}

let s: CheckoutStack;
let inventory: ReturnType<typeof heldInventory>;
let service: Service;
beforeAll(async () => {
  inventory = heldInventory();
  // Order's step deadline outlasts the holds (a held reserve is slow, never failed or retried), and its call
  // limit toward inventory starts above the orders below (held calls never answer, so the limit cannot grow).
  s = await startCheckoutStack({ services: ['payment'], flags: { order: ['--step-deadline-ms', '120000', '--initial-step-calls', '64'] } });
  service = await connectService({ url: s.gateway.url, service: 'inventory', instance: 'inventory-held', routes: inventory.routes });
  await s.start('order');
}, 60_000);
afterAll(async () => {
  for (const orderId of inventory?.held.keys() ?? []) inventory.release(orderId);
  await service?.close();
  await s?.close();
});

describe('checkout with a slow inventory', () => {
  it('checkout.place answers while inventory holds every reserve: no place waits for inventory', async () => {
    const place = () => s.client.requestResponse<{ orderId: string; status: string }>('checkout.place', { idempotencyKey: `latency-${Math.random()}`, customerId: 'cust-1', items: [{ sku: 'A1', qty: 1 }] });
    const first = await place();
    // The first saga has reached inventory and is held there: the places below are answered behind it.
    await inventory.arrived(first.orderId);
    const orders = [first.orderId];
    for (let i = 0; i < 40; i++) {
      const answer = await place();
      expect(answer.status).toBe('PENDING');
      // Answered while inventory has answered nothing, with at least one reserve held.
      expect(inventory.answered).toBe(0);
      expect(inventory.held.size).toBeGreaterThan(0);
      orders.push(answer.orderId);
    }
    // Every saga went on to inventory (payment answered), and is held there: PENDING, not failed.
    for (const orderId of orders) await inventory.arrived(orderId);
    for (const orderId of orders.slice(0, 5)) expect(await s.client.requestResponse('orders.get', { orderId })).toMatchObject({ status: 'PENDING', lastSeq: 2 });
    for (const orderId of orders) inventory.release(orderId);
    for (const orderId of orders) expect(types(await s.events(orderId))).toEqual(['OrderPlaced', 'PaymentAuthorized', 'StockReserved', 'OrderConfirmed']);
    expect(inventory.answered).toBe(orders.length);
  });

  it('orders.watch: a subscriber arriving mid-saga gets the history first, then the live events', async () => {
    const orderId = await s.place([{ sku: 'B2', qty: 1 }]);
    await inventory.arrived(orderId);
    // Payment is done and inventory holds the reserve: the late subscriber arrives now.
    const late: OrderEvent[] = [];
    const iterator = s.client.iterateStream<OrderEvent>('orders.watch', { orderId }, { prefetch: 1 })[Symbol.asyncIterator]();
    for (let i = 0; i < 2; i++) late.push((await iterator.next()).value as OrderEvent);
    expect(types(late)).toEqual(['OrderPlaced', 'PaymentAuthorized']);
    // StockReserved cannot exist before the release: what follows is live.
    inventory.release(orderId);
    for (let r = await iterator.next(); !r.done; r = await iterator.next()) late.push(r.value);
    expect(types(late)).toEqual(['OrderPlaced', 'PaymentAuthorized', 'StockReserved', 'OrderConfirmed']);
    expect(late.map((e) => e.seq)).toEqual([1, 2, 3, 4]);
  });
});

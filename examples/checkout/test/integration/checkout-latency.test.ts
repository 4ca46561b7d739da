/**
 * The motivating failure, reversed: with a slow inventory service,
 * `checkout.place` stays fast because it only validates and records; the
 * saga absorbs the latency afterwards. Compared with the configured
 * inventory latency, measured in the same test (never an absolute time).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { OrderEvent } from '../../src/events.js';
import { startCheckoutStack, types, type CheckoutStack } from '../helpers/checkout.js';

const INVENTORY_LATENCY_MS = 2_000;

let s: CheckoutStack;
beforeAll(async () => {
  s = await startCheckoutStack({ flags: { inventory: ['--latency-ms', String(INVENTORY_LATENCY_MS)] } });
}, 60_000);
afterAll(async () => s?.close());

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

describe('checkout with a slow inventory', () => {
  it('checkout.place answers in a small fraction of the inventory latency, while each saga takes at least that latency', async () => {
    const placeMs: number[] = [];
    const orders: string[] = [];
    // Warm-up (JIT, connections), not measured.
    for (let i = 0; i < 10; i++) orders.push(await s.place([{ sku: 'A1', qty: 1 }]));
    // Sequential places: each one is measured alone, while the sagas of the earlier ones are in flight.
    for (let i = 0; i < 40; i++) {
      const t0 = performance.now();
      const orderId = await s.place([{ sku: 'A1', qty: 1 }]);
      placeMs.push(performance.now() - t0);
      orders.push(orderId);
    }
    const sagaMs = await Promise.all(
      orders.map(async (orderId) => {
        const events = await s.events(orderId);
        expect(types(events)).toEqual(['OrderPlaced', 'PaymentAuthorized', 'StockReserved', 'OrderConfirmed']);
        return Date.parse(events.at(-1)!.at) - Date.parse(events[0]!.at);
      }),
    );
    const p99 = percentile(placeMs, 99);
    console.log(`checkout.place p50 ${percentile(placeMs, 50).toFixed(1)} ms, p99 ${p99.toFixed(1)} ms; inventory latency ${INVENTORY_LATENCY_MS} ms; saga min ${Math.min(...sagaMs)} ms`);
    // The latency was in effect: every saga took at least the inventory's latency...
    expect(Math.min(...sagaMs)).toBeGreaterThanOrEqual(INVENTORY_LATENCY_MS);
    // ...and none of it reached the caller of checkout.place (the tail allows for a busy 2-core machine).
    expect(percentile(placeMs, 50)).toBeLessThan(INVENTORY_LATENCY_MS / 20);
    expect(p99).toBeLessThan(INVENTORY_LATENCY_MS / 4);
  });

  it('orders.watch: a subscriber arriving mid-saga gets the history first, then the live events', async () => {
    const orderId = await s.place([{ sku: 'B2', qty: 1 }]);
    const iterator = s.client.iterateStream<OrderEvent>('orders.watch', { orderId }, { prefetch: 1 });
    const first = await iterator.next();
    expect(first.value).toMatchObject({ type: 'OrderPlaced', seq: 1 });
    // Wait (on an event) until payment is done and inventory is working: the late subscriber arrives now.
    const second = await iterator.next();
    expect(second.value).toMatchObject({ type: 'PaymentAuthorized', seq: 2 });
    const late: OrderEvent[] = [];
    const arrived = performance.now();
    let firstLiveAfterMs = 0;
    for await (const e of s.client.iterateStream<OrderEvent>('orders.watch', { orderId })) {
      late.push(e);
      if (e.type === 'StockReserved') firstLiveAfterMs = performance.now() - arrived;
    }
    expect(types(late)).toEqual(['OrderPlaced', 'PaymentAuthorized', 'StockReserved', 'OrderConfirmed']);
    expect(late.map((e) => e.seq)).toEqual([1, 2, 3, 4]);
    // StockReserved was live for the late subscriber: it came after a wait, not with the history.
    expect(firstLiveAfterMs).toBeGreaterThan(INVENTORY_LATENCY_MS / 4);
    const rest: OrderEvent[] = [];
    for await (const e of iterator) rest.push(e);
    expect(rest).toEqual(late.slice(2));
  });
});

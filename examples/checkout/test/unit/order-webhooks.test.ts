/**
 * The order webhook feed over an in-memory store and a publish that fails
 * when told to: a failed publish is retried by itself (no further change of
 * the order needed) while a refusal is not, events leave in `seq` order
 * with ids `<orderId>:<seq>`,
 * an order with more events than one read goes on to the end, and a closed
 * feed stops retrying. The gateway side of the ids is
 * test/integration/webhooks.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { SluiceError, createLogger, type ErrorCode } from 'sluice';
import type { OrderEvent } from '../../src/events.js';
import { OrderWebhookFeed } from '../../src/order-webhooks.js';
import { eventually } from '../../../../test/helpers/harness.js';

const log = createLogger({ name: 'feed-test', level: 'silent' });

function orderEvents(orderId: string, types: string[]): OrderEvent[] {
  return types.map((type, i) => ({ orderId, seq: i + 1, type, at: 0 }) as unknown as OrderEvent);
}

function setup(events: OrderEvent[], failFirst: number, code: ErrorCode = 'UNAVAILABLE') {
  const published: { key: string; seq: number; id: string }[] = [];
  let calls = 0;
  const feed = new OrderWebhookFeed(
    'orders.events',
    {
      events: (orderId, from, limit) => Promise.resolve(events.filter((e) => e.orderId === orderId && e.seq >= from).slice(0, limit)),
      publish: (_topic, key, event, id) => {
        calls++;
        if (calls <= failFirst) return Promise.reject(new SluiceError(code, 'refused by the test'));
        published.push({ key, seq: event.seq, id });
        return Promise.resolve({ deliveries: 1, duplicates: 0 });
      },
    },
    log,
  );
  return { feed, published, calls: () => calls };
}

describe('order webhook feed', () => {
  it('retries failed publishes with backoff until every event is out, in order, each under its id', async () => {
    const events = orderEvents('ord_1', ['OrderPlaced', 'PaymentAuthorized', 'StockReserved', 'OrderConfirmed']);
    const { feed, published, calls } = setup(events, 2);
    feed.changed('ord_1');
    await eventually(() => published.length === 4, 'all four published', 200, 50);
    expect(calls()).toBe(6);
    expect(published.map((p) => p.seq)).toEqual([1, 2, 3, 4]);
    expect(published.map((p) => p.id)).toEqual(['ord_1:1', 'ord_1:2', 'ord_1:3', 'ord_1:4']);
    expect(published.every((p) => p.key === 'ord_1')).toBe(true);
    expect(feed.retryingCount).toBe(0);
    feed.close();
  });

  it('reads on past one batch without waiting for another change', async () => {
    const types = Array.from({ length: 40 }, (_, i) => `Step${i}`);
    const { feed, published } = setup(orderEvents('ord_2', types), 0);
    feed.changed('ord_2');
    await eventually(() => published.length === 40, 'all forty published', 200, 25);
    expect(published.map((p) => p.seq)).toEqual(types.map((_, i) => i + 1));
    feed.close();
  });

  it('does not retry a refusal (webhooks off, not granted); the next change of the order publishes again', async () => {
    const { feed, published, calls } = setup(orderEvents('ord_4', ['OrderPlaced', 'PaymentAuthorized']), 1, 'PERMISSION_DENIED');
    feed.changed('ord_4');
    await eventually(() => calls() === 1, 'the refused publish', 200, 10);
    // The rejection is handled in the microtasks after the call: one turn of the loop later, a retry would be scheduled.
    await new Promise((r) => setImmediate(r));
    expect(feed.retryingCount).toBe(0);
    expect(published).toEqual([]);
    feed.changed('ord_4');
    await eventually(() => published.length === 2, 'both published on the next change', 200, 10);
    expect(published.map((p) => p.id)).toEqual(['ord_4:1', 'ord_4:2']);
    feed.close();
  });

  it('stops retrying once closed', async () => {
    const { feed, calls } = setup(orderEvents('ord_3', ['OrderPlaced']), Infinity);
    feed.changed('ord_3');
    await eventually(() => feed.retryingCount === 1, 'a retry scheduled', 200, 10);
    feed.close();
    expect(feed.retryingCount).toBe(0);
    const after = calls();
    feed.changed('ord_3');
    expect(calls()).toBe(after);
  });
});

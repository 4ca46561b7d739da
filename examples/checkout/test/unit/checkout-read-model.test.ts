import { describe, expect, it } from 'vitest';
import type { OrderEvent } from '../../src/events.js';
import { project, ProjectionError, type OrderView } from '../../src/read-model.js';

const placed: OrderEvent = { type: 'OrderPlaced', orderId: 'ord_1', seq: 1, at: '2025-01-01T00:00:00.000Z', customerId: 'c', items: [{ sku: 'Z9', qty: 1 }], amountCents: 8900 };

function fold(events: OrderEvent[]): OrderView {
  return events.reduce<OrderView | undefined>((v, e) => project(v, e), undefined)!;
}

describe('order read model', () => {
  it('builds the view of a placed order', () => {
    expect(fold([placed])).toEqual({
      orderId: 'ord_1',
      customerId: 'c',
      items: [{ sku: 'Z9', qty: 1 }],
      amountCents: 8900,
      status: 'PENDING',
      payment: 'PENDING',
      stock: 'PENDING',
      placedAt: placed.at,
      updatedAt: placed.at,
      lastSeq: 1,
    });
  });

  it('follows a compensated order to CANCELLED with the refund and the reason', () => {
    const at = '2025-01-01T00:00:01.000Z';
    const view = fold([
      placed,
      { type: 'PaymentAuthorized', orderId: 'ord_1', seq: 2, at, paymentId: 'p', amountCents: 8900 },
      { type: 'StockUnavailable', orderId: 'ord_1', seq: 3, at, reason: 'Z9: 0 available', sku: 'Z9' },
      { type: 'PaymentRefunded', orderId: 'ord_1', seq: 4, at, paymentId: 'p', amountCents: 8900 },
      { type: 'OrderCancelled', orderId: 'ord_1', seq: 5, at, reason: 'stock unavailable: Z9: 0 available' },
    ]);
    expect(view).toMatchObject({ status: 'CANCELLED', payment: 'REFUNDED', stock: 'UNAVAILABLE', reason: 'stock unavailable: Z9: 0 available', lastSeq: 5, updatedAt: at });
  });

  it('follows a confirmed order', () => {
    const at = placed.at;
    const view = fold([
      placed,
      { type: 'PaymentAuthorized', orderId: 'ord_1', seq: 2, at, paymentId: 'p', amountCents: 8900 },
      { type: 'StockReserved', orderId: 'ord_1', seq: 3, at, items: [{ sku: 'Z9', qty: 1 }] },
      { type: 'OrderConfirmed', orderId: 'ord_1', seq: 4, at },
    ]);
    expect(view).toMatchObject({ status: 'CONFIRMED', payment: 'AUTHORIZED', stock: 'RESERVED', lastSeq: 4 });
  });

  it('refuses gaps, duplicates, foreign events and a log not starting with OrderPlaced', () => {
    const view = fold([placed]);
    expect(() => project(view, { type: 'OrderConfirmed', orderId: 'ord_1', seq: 3, at: placed.at })).toThrow(ProjectionError);
    expect(() => project(view, { ...placed, seq: 2 })).toThrow(ProjectionError);
    expect(() => project(view, { type: 'OrderConfirmed', orderId: 'ord_2', seq: 2, at: placed.at })).toThrow(ProjectionError);
    expect(() => project(undefined, { type: 'OrderConfirmed', orderId: 'ord_1', seq: 1, at: placed.at })).toThrow(ProjectionError);
  });
});

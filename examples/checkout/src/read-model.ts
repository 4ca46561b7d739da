/**
 * The order read model (CQRS): `orders.get` answers from views built only by
 * applying the order's events in `seq` order, never by asking payment or
 * inventory. `project` is pure; the order store applies it to each event in
 * the same transaction that appends the event, so a view is never behind or
 * ahead of its log.
 */
import type { OrderEvent, OrderLine } from './events.js';

export type OrderStatus = 'PENDING' | 'CONFIRMED' | 'CANCELLED';

export interface OrderView {
  readonly orderId: string;
  readonly customerId: string;
  readonly items: readonly OrderLine[];
  readonly amountCents: number;
  /** PENDING until the saga ends. */
  readonly status: OrderStatus;
  readonly payment: 'PENDING' | 'AUTHORIZED' | 'FAILED' | 'REFUNDED';
  readonly stock: 'PENDING' | 'RESERVED' | 'UNAVAILABLE' | 'RELEASED';
  /** Why the order was cancelled (or what failed on the way). */
  readonly reason?: string;
  readonly placedAt: string;
  readonly updatedAt: string;
  /** `seq` of the last event applied. */
  readonly lastSeq: number;
}

export class ProjectionError extends Error {
  override readonly name = 'ProjectionError';
}

/** The view after `event`. The first event must be OrderPlaced (seq 1); each next one seq + 1. */
export function project(view: OrderView | undefined, event: OrderEvent): OrderView {
  if (!view) {
    if (event.type !== 'OrderPlaced' || event.seq !== 1) throw new ProjectionError(`order ${event.orderId}: the first event must be OrderPlaced with seq 1, got ${event.type} seq ${event.seq}`);
    return {
      orderId: event.orderId,
      customerId: event.customerId,
      items: event.items,
      amountCents: event.amountCents,
      status: 'PENDING',
      payment: 'PENDING',
      stock: 'PENDING',
      placedAt: event.at,
      updatedAt: event.at,
      lastSeq: 1,
    };
  }
  if (event.orderId !== view.orderId) throw new ProjectionError(`event of order ${event.orderId} applied to view of ${view.orderId}`);
  if (event.seq !== view.lastSeq + 1) throw new ProjectionError(`order ${view.orderId}: expected seq ${view.lastSeq + 1}, got ${event.seq}`);
  const next = { ...view, updatedAt: event.at, lastSeq: event.seq };
  switch (event.type) {
    case 'OrderPlaced':
      throw new ProjectionError(`order ${view.orderId}: OrderPlaced twice`);
    case 'PaymentAuthorized':
      return { ...next, payment: 'AUTHORIZED' };
    case 'PaymentFailed':
      return { ...next, payment: 'FAILED', reason: event.reason };
    case 'PaymentRefunded':
      return { ...next, payment: 'REFUNDED' };
    case 'StockReserved':
      return { ...next, stock: 'RESERVED' };
    case 'StockUnavailable':
      return { ...next, stock: 'UNAVAILABLE', reason: event.reason };
    case 'StockReleased':
      return { ...next, stock: 'RELEASED' };
    case 'OrderConfirmed':
      return { ...next, status: 'CONFIRMED' };
    case 'OrderCancelled':
      return { ...next, status: 'CANCELLED', reason: event.reason };
  }
}

/**
 * The order's event vocabulary: what `orders.watch` streams and what the
 * order service's event log stores. Every event is
 * `{type, orderId, seq, at, ...details}`; `seq` starts at 1 per order and has
 * no gaps, `at` is an ISO-8601 timestamp. An order's log is finite: at most
 * one event of each type, ending with exactly one terminal event.
 */

export interface OrderLine {
  readonly sku: string;
  readonly qty: number;
}

export interface EventDetails {
  OrderPlaced: { customerId: string; items: OrderLine[]; amountCents: number };
  PaymentAuthorized: { paymentId: string; amountCents: number };
  PaymentFailed: { reason: string };
  StockReserved: { items: OrderLine[] };
  StockUnavailable: { reason: string; sku?: string };
  StockReleased: { items: OrderLine[] };
  PaymentRefunded: { paymentId: string; amountCents: number };
  // eslint-disable-next-line @typescript-eslint/no-empty-object-type -- no details: the envelope says it all
  OrderConfirmed: {};
  OrderCancelled: { reason: string };
}

export type OrderEventType = keyof EventDetails;

/** An event before it is appended: the log assigns `orderId`, `seq` and `at`. */
export type EventDraft = { [K in OrderEventType]: { type: K } & EventDetails[K] }[OrderEventType];

/** An event as stored and streamed. */
export type OrderEvent = EventDraft & { orderId: string; seq: number; at: string };

/** Event types that end an order's log (and its `orders.watch` stream). */
export const TERMINAL_EVENTS: ReadonlySet<OrderEventType> = new Set(['OrderConfirmed', 'OrderCancelled']);

export function isTerminal(event: { type: string }): boolean {
  return TERMINAL_EVENTS.has(event.type as OrderEventType);
}

/** Upper bound on one order's log length: one event per type. Bounds every per-order history. */
export const MAX_EVENTS_PER_ORDER = 9;

/**
 * Checkout end to end through a real gateway with the order, payment and
 * inventory services as separate processes: the happy path, compensation,
 * a declined payment, idempotency under concurrent duplicates, watch replay
 * and bad input.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect } from 'sluice/client';
import type { SluiceError } from 'sluice';
import type { OrderEvent } from '../../src/events.js';
import { startCheckoutStack, types, type CheckoutStack } from '../helpers/checkout.js';
import { json, jsonPayload, recorder } from '../../../../test/helpers/harness.js';
import { establish } from '../../../../src/client/connector.js';
import { nodeTransport } from '../../../../src/transport/client-transport.js';
import { routeMetadata } from 'sluice';

let s: CheckoutStack;
beforeAll(async () => {
  s = await startCheckoutStack();
}, 60_000);
afterAll(async () => s?.close());

const stock = async (sku: string) => (await s.client.requestResponse<{ items: { sku: string; available: number }[] }>('inventory.stock', {})).items.find((i) => i.sku === sku)!.available;
const payment = (orderId: string) => s.client.requestResponse<{ status: string | null; ledger: { kind: string; amountCents: number }[]; calls: Record<string, number> }>('payment.get', { orderId });
const stats = () => s.client.requestResponse<{ orders: { total: number }; queue: { depth: number; max: number; capacity: number } }>('orders.stats', {});

async function refusal(promise: Promise<unknown>): Promise<SluiceError> {
  try {
    await promise;
  } catch (err) {
    return err as SluiceError;
  }
  throw new Error('expected a refusal');
}

function checkEnvelope(events: OrderEvent[], orderId: string): void {
  events.forEach((e, i) => {
    expect(e.orderId).toBe(orderId);
    expect(e.seq).toBe(i + 1);
    expect(new Date(e.at).toISOString()).toBe(e.at);
  });
}

describe('checkout saga', () => {
  it('happy path: accepted PENDING, then paid, reserved and confirmed, seen by watch, get, stock and payment', async () => {
    const before = await stock('A1');
    const placed = await s.client.requestResponse<{ orderId: string; status: string }>('checkout.place', { idempotencyKey: 'happy-1', customerId: 'cust-1', items: [{ sku: 'A1', qty: 2 }] });
    expect(placed).toEqual({ orderId: expect.stringMatching(/^ord_/), status: 'PENDING' });
    const events = await s.events(placed.orderId);
    expect(types(events)).toEqual(['OrderPlaced', 'PaymentAuthorized', 'StockReserved', 'OrderConfirmed']);
    checkEnvelope(events, placed.orderId);
    expect(events[0]).toMatchObject({ customerId: 'cust-1', items: [{ sku: 'A1', qty: 2 }], amountCents: 4900 });
    expect(events[1]).toMatchObject({ paymentId: expect.stringMatching(/^pay_/), amountCents: 4900 });
    const view = await s.client.requestResponse<Record<string, unknown>>('orders.get', { orderId: placed.orderId });
    expect(view).toMatchObject({ orderId: placed.orderId, status: 'CONFIRMED', payment: 'AUTHORIZED', stock: 'RESERVED', amountCents: 4900, lastSeq: 4 });
    expect(await stock('A1')).toBe(before - 2);
    const p = await payment(placed.orderId);
    expect(p.status).toBe('AUTHORIZED');
    expect(p.ledger).toEqual([{ kind: 'CHARGE', amountCents: 4900, at: expect.any(String) }]);
  });

  it('stock unavailable: the payment is refunded and the order cancelled', async () => {
    const orderId = await s.place([{ sku: 'A1', qty: 1 }, { sku: 'Z9', qty: 1 }]);
    const a1 = await stock('A1');
    const events = await s.events(orderId);
    expect(types(events)).toEqual(['OrderPlaced', 'PaymentAuthorized', 'StockUnavailable', 'PaymentRefunded', 'OrderCancelled']);
    checkEnvelope(events, orderId);
    expect(events[2]).toMatchObject({ sku: 'Z9', reason: expect.stringContaining('Z9') });
    expect(events[3]).toMatchObject({ paymentId: (events[1] as { paymentId: string }).paymentId, amountCents: 2450 + 8900 });
    const p = await payment(orderId);
    expect(p.status).toBe('REFUNDED');
    expect(p.ledger.map((l) => [l.kind, l.amountCents])).toEqual([['CHARGE', 11350], ['REFUND', -11350]]);
    // All or nothing: the A1 line was not reserved either.
    expect(await stock('A1')).toBe(a1);
    expect(await stock('Z9')).toBe(0);
    expect(await s.client.requestResponse('orders.get', { orderId })).toMatchObject({ status: 'CANCELLED', payment: 'REFUNDED', stock: 'UNAVAILABLE' });
  });

  it('a declined payment cancels the order without touching stock', async () => {
    // 1000 x B2 is over the payment service's default limit of 10,000.00.
    const orderId = await s.place([{ sku: 'B2', qty: 1000 }]);
    const events = await s.events(orderId);
    expect(types(events)).toEqual(['OrderPlaced', 'PaymentFailed', 'OrderCancelled']);
    expect(events[1]).toMatchObject({ reason: expect.stringContaining('over the limit') });
    expect((await payment(orderId)).ledger).toEqual([]);
    const reservation = await s.client.requestResponse<{ status: string | null; calls: Record<string, number> }>('inventory.get', { orderId });
    expect(reservation).toMatchObject({ status: null, calls: {} });
  });

  it('concurrent duplicates of one idempotency key make one order', async () => {
    const before = (await stats()).orders.total;
    const command = { idempotencyKey: 'dup-1', customerId: 'cust-2', items: [{ sku: 'C3', qty: 3 }] };
    const clients = await Promise.all(Array.from({ length: 4 }, () => connect({ url: s.gateway.url })));
    try {
      const answers = await Promise.all(clients.flatMap((c) => Array.from({ length: 10 }, () => c.requestResponse<{ orderId: string }>('checkout.place', command))));
      const ids = new Set(answers.map((a) => a.orderId));
      expect(ids.size).toBe(1);
      const [orderId] = [...ids];
      // The channel route shares the key space.
      const acks: unknown[] = [];
      await new Promise<void>((resolve, reject) => s.client.requestChannel('checkout.submit', (async function* () { yield command; })()).subscribe({ next: (a) => acks.push(a), error: reject, complete: resolve }));
      expect(acks).toEqual([{ idempotencyKey: 'dup-1', orderId }]);
      const events = await s.events(orderId!);
      expect(types(events).filter((t) => t === 'OrderPlaced')).toHaveLength(1);
      expect((await payment(orderId!)).ledger.filter((l) => l.kind === 'CHARGE')).toHaveLength(1);
      expect((await stats()).orders.total).toBe(before + 1);
      // The same key with another cart is refused and records nothing.
      const e = await refusal(s.client.requestResponse('checkout.place', { ...command, items: [{ sku: 'C3', qty: 4 }] }));
      expect(e.code).toBe('INVALID_ARGUMENT');
      expect(e.message).toContain("'idempotencyKey' 'dup-1' already placed order");
      expect((await stats()).orders.total).toBe(before + 1);
    } finally {
      for (const c of clients) c.close();
    }
  });

  it('orders.watch: a late subscriber gets the whole history and completes; watchers see the same log', async () => {
    const orderId = await s.place([{ sku: 'D4', qty: 1 }]);
    const early = s.events(orderId);
    const first = await early;
    const late = await s.events(orderId);
    expect(late).toEqual(first);
    expect(types(late)).toEqual(['OrderPlaced', 'PaymentAuthorized', 'StockReserved', 'OrderConfirmed']);
    // Demand is honoured: asking for one event delivers one, and the stream waits.
    const conn = await establish(nodeTransport, { url: s.gateway.url });
    try {
      const rec = recorder();
      const stream = conn.requestStream(jsonPayload('orders.watch', { orderId }), 1, rec.handler);
      await rec.received(1);
      expect(json(rec.items[0]!)).toMatchObject({ type: 'OrderPlaced', seq: 1 });
      // A bench round trip on the same connection: had more been sent, it would have arrived first.
      await new Promise<void>((resolve) => {
        const echo = recorder();
        conn.requestResponse(jsonPayload('orders.get', { orderId }), { ...echo.handler, onNext: () => resolve() });
      });
      expect(rec.items).toHaveLength(1);
      // Exactly the three events left: the terminal one completes the stream, no extra request needed.
      stream.request(3);
      expect(await rec.ended).toEqual({});
      expect(rec.items.map((p) => json<OrderEvent>(p).seq)).toEqual([1, 2, 3, 4]);
    } finally {
      conn.close();
    }
  });

  describe('bad input: a coded error naming the problem, nothing recorded, still serving', () => {
    const place = (data: unknown) => refusal(s.client.requestResponse('checkout.place', data));
    const base = { idempotencyKey: 'bad-1', customerId: 'cust-3', items: [{ sku: 'A1', qty: 1 }] };

    it.each([
      ['missing fields', { customerId: 'c' }, "'idempotencyKey' is required"],
      ['missing items', { idempotencyKey: 'k', customerId: 'c' }, "'items' is required"],
      ['negative quantity', { ...base, items: [{ sku: 'A1', qty: -1 }] }, "'items[0].qty' must be a positive integer"],
      ['unknown sku', { ...base, items: [{ sku: 'XX', qty: 1 }] }, "'items[0].sku' 'XX' is not in the catalogue"],
      ['oversized cart', { ...base, items: Array.from({ length: 51 }, (_, i) => ({ sku: `S${i}`, qty: 1 })) }, "'items' has 51 lines; a cart holds at most 50"],
      ['not an object', [1, 2, 3], 'must be a JSON object'],
    ])('%s', async (_name, data, message) => {
      const before = (await stats()).orders.total;
      const e = await place(data);
      expect(e.code).toBe('INVALID_ARGUMENT');
      expect(e.message).toContain(message);
      expect((await stats()).orders.total).toBe(before);
    });

    it('malformed JSON', async () => {
      const before = (await stats()).orders.total;
      const conn = await establish(nodeTransport, { url: s.gateway.url });
      try {
        const rec = recorder();
        conn.requestResponse({ data: new TextEncoder().encode('{"idempotencyKey": "k", "items": [ '), metadata: routeMetadata('checkout.place') }, rec.handler);
        const { error } = await rec.ended;
        expect(error?.code).toBe('INVALID_ARGUMENT');
        expect(error?.message).toContain('not valid UTF-8 JSON');
      } finally {
        conn.close();
      }
      expect((await stats()).orders.total).toBe(before);
    });

    it('on checkout.submit, each bad command gets an error ack and the good ones are placed', async () => {
      const before = (await stats()).orders.total;
      const commands = [
        { ...base, idempotencyKey: 'sub-ok-1' },
        { ...base, idempotencyKey: 'sub-bad-1', items: [{ sku: 'A1', qty: 0 }] },
        { customerId: 'no-key', items: [] },
        { ...base, idempotencyKey: 'sub-ok-2', items: [{ sku: 'B2', qty: 1 }] },
      ];
      const acks: any[] = [];
      await new Promise<void>((resolve, reject) => s.client.requestChannel('checkout.submit', (async function* () { yield* commands; })()).subscribe({ next: (a) => acks.push(a), error: reject, complete: resolve }));
      expect(acks).toEqual([
        { idempotencyKey: 'sub-ok-1', orderId: expect.stringMatching(/^ord_/) },
        { idempotencyKey: 'sub-bad-1', error: { code: 'INVALID_ARGUMENT', message: "'items[0].qty' must be a positive integer" } },
        { idempotencyKey: null, error: { code: 'INVALID_ARGUMENT', message: "'idempotencyKey' is required" } },
        { idempotencyKey: 'sub-ok-2', orderId: expect.stringMatching(/^ord_/) },
      ]);
      expect((await stats()).orders.total).toBe(before + 2);
    });

    it('malformed JSON on checkout.submit ends that channel with INVALID_ARGUMENT; acked commands stand', async () => {
      const conn = await establish(nodeTransport, { url: s.gateway.url });
      try {
        const rec = recorder();
        const first = { ...base, idempotencyKey: 'sub-json-1' };
        const stream = conn.requestChannel(jsonPayload('checkout.submit', first), 8, false, rec.handler);
        await rec.received(1);
        expect(json(rec.items[0]!)).toEqual({ idempotencyKey: 'sub-json-1', orderId: expect.stringMatching(/^ord_/) });
        // The service asked for more input (demand), so sending is allowed; this payload is not JSON.
        expect(rec.requested.length).toBeGreaterThan(0);
        stream.next({ data: new TextEncoder().encode('{"idempotencyKey": '), metadata: null });
        const { error } = await rec.ended;
        expect(error?.code).toBe('INVALID_ARGUMENT');
        expect(error?.message).toContain('not valid UTF-8 JSON');
      } finally {
        conn.close();
      }
      // The order acked before the bad payload is there, once.
      const again = await s.client.requestResponse<{ orderId: string }>('checkout.place', { ...base, idempotencyKey: 'sub-json-1' });
      expect(types(await s.events(again.orderId))[0]).toBe('OrderPlaced');
    });

    it('lookups of unknown orders and bad references', async () => {
      expect(await refusal(s.client.requestResponse('orders.get', { orderId: 'ord_nope' }))).toMatchObject({ code: 'INVALID_ARGUMENT', message: "no order 'ord_nope'" });
      expect(await refusal(s.events('ord_nope'))).toMatchObject({ code: 'INVALID_ARGUMENT', message: "no order 'ord_nope'" });
      expect(await refusal(s.client.requestResponse('orders.get', { id: 'x' }))).toMatchObject({ code: 'INVALID_ARGUMENT', message: expect.stringContaining("'id' is not a known field") });
      expect(await refusal(s.client.requestResponse('inventory.stock', { sku: 'A1' }))).toMatchObject({ code: 'INVALID_ARGUMENT' });
      expect(await refusal(s.client.requestResponse('payment.authorize', { orderId: 'o', amountCents: -5 }))).toMatchObject({ code: 'INVALID_ARGUMENT', message: "'amountCents' must be a non-negative integer (cents)" });
    });

    it('the services still serve after all of it', async () => {
      const orderId = await s.place([{ sku: 'A1', qty: 1 }]);
      expect(types(await s.events(orderId)).at(-1)).toBe('OrderConfirmed');
    });
  });
});

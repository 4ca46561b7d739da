/**
 * Two order-service instances at once, each a real process with its own
 * store, behind one gateway that spreads `checkout.place` between them:
 * every order is owned by the instance that accepted it, only its owner runs
 * the saga (one authorize call, one charge, one reservation, one
 * confirmation per order), and `orders.get` / `orders.watch` answer for any
 * order whichever instance the gateway picks, the other relaying to the
 * owner. With the owner gone, a read of its orders is UNAVAILABLE naming it.
 *
 * Idempotency keys across instances: each key belongs to one instance of
 * the list every instance is given (rendezvous hashing); a place reaching
 * another instance is relayed to the owner, whose unique key decides. The
 * same keys sent many times at once through the gateway, which spreads them
 * over both instances, make one order each, placed by the key's owner, with
 * one charge and one saga. With the owner down, placing its keys is
 * UNAVAILABLE naming it (never a second order elsewhere).
 */
import { from } from 'rxjs';
import { afterEach, describe, expect, it } from 'vitest';
import { orderOwner } from '../../src/order-store.js';
import { keyOwner } from '../../src/order-owners.js';
import { startCheckoutStack, types, type CheckoutStack } from '../helpers/checkout.js';
import { eventually } from '../../../../test/helpers/harness.js';

type Payment = { status: string | null; ledger: { kind: string }[]; calls: Record<string, number> };
type Reservation = { status: string | null; calls: Record<string, number> };

let stack: CheckoutStack | undefined;
afterEach(async () => {
  await stack?.close();
  stack = undefined;
});

describe('several order-service instances', () => {
  it('share the orders, and each order is processed once, by its owner, readable through either', async () => {
    const s = (stack = await startCheckoutStack({ orderInstances: 2, flags: { inventory: ['--latency-ms', '200'] } }));
    const N = 40;
    const ids = await Promise.all(Array.from({ length: N }, (_, i) => s.place([{ sku: 'A1', qty: 1 }], `multi-${i}`)));
    expect(new Set(ids).size).toBe(N);
    const owners = new Map<string, number>();
    for (const id of ids) owners.set(orderOwner(id) ?? '?', (owners.get(orderOwner(id) ?? '?') ?? 0) + 1);
    // The gateway spread the orders: both instances own some.
    expect([...owners.keys()].sort()).toEqual(['order-1', 'order-2']);

    for (const orderId of ids) {
      // Whichever instance the gateway picks answers the watch: the owner, or the other relaying to it.
      const events = await s.events(orderId);
      expect(types(events)).toEqual(['OrderPlaced', 'PaymentAuthorized', 'StockReserved', 'OrderConfirmed']);
      expect(events.map((e) => e.seq)).toEqual([1, 2, 3, 4]);
      const payment = await s.client.requestResponse<Payment>('payment.get', { orderId });
      expect(payment.ledger.map((l) => l.kind)).toEqual(['CHARGE']);
      // One authorize call: the other instance never ran this order's saga.
      expect(payment.calls).toEqual({ 'payment.authorize': 1 });
      const reservation = await s.client.requestResponse<Reservation>('inventory.get', { orderId });
      expect(reservation.status).toBe('RESERVED');
      expect(reservation.calls).toEqual({ 'inventory.reserve': 1 });
    }
    // orders.get, asked several times per order, lands on both instances and always answers.
    for (const orderId of ids.slice(0, 10)) {
      for (let i = 0; i < 4; i++) expect(await s.client.requestResponse<{ status: string; orderId: string }>('orders.get', { orderId })).toMatchObject({ orderId, status: 'CONFIRMED' });
    }
    // Each instance reports only the orders it owns.
    const own = async (instance: string) => (await s.client.requestResponse<{ status: string }>(`orders.owner.${instance}.get`, { orderId: ids.find((id) => orderOwner(id) === instance)! })).status;
    expect(await own('order-1')).toBe('CONFIRMED');
    expect(await own('order-2')).toBe('CONFIRMED');
    await expect(s.client.requestResponse(`orders.owner.order-1.get`, { orderId: ids.find((id) => orderOwner(id) === 'order-2')! })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });

    // The owner of some orders goes away: the other instance says so instead of "no order".
    const child = s.orders.get('order-2')!;
    const gone = new Promise<void>((resolve) => child.process.once('exit', () => resolve()));
    child.process.kill('SIGKILL');
    await gone;
    const orphan = ids.find((id) => orderOwner(id) === 'order-2')!;
    const refusal = await eventually(
      async () => {
        const e = await s.client.requestResponse('orders.get', { orderId: orphan }).then(
          () => undefined,
          (err: { code: string; message: string }) => err,
        );
        // (Until the gateway has seen it go, a call may still reach it and fail otherwise.)
        return e?.code === 'UNAVAILABLE' && e.message.includes("instance 'order-2'") ? e : undefined;
      },
      'orders.get of an order whose owner is gone to be UNAVAILABLE',
    );
    expect(refusal.message).toMatch(/belongs to order-service instance 'order-2', which is not connected/);
    // Back again with its store: its orders are readable through either instance once more.
    await s.startOrder('order-2');
    expect(await s.client.requestResponse<{ status: string }>('orders.get', { orderId: orphan })).toMatchObject({ status: 'CONFIRMED' });
  }, 180_000);

  it('place each idempotency key once across instances: retries through either make one order, one charge, one saga', async () => {
    const s = (stack = await startCheckoutStack({ orderInstances: 2 }));
    const instances = ['order-1', 'order-2'];
    const KEYS = 16;
    const REPEATS = 8;
    const keys = Array.from({ length: KEYS }, (_, i) => `shared-${i}`);
    const cmd = (key: string) => ({ idempotencyKey: key, customerId: 'cust-1', items: [{ sku: 'A1', qty: 1 }] });
    // Every key owned by each instance, so both relay and both place.
    expect(new Set(keys.map((k) => keyOwner(k, instances)))).toEqual(new Set(instances));
    // All at once: the gateway spreads them over both instances.
    const answers = await Promise.all(keys.flatMap((key) => Array.from({ length: REPEATS }, () => s.client.requestResponse<{ orderId: string }>('checkout.place', cmd(key)).then((a) => ({ key, orderId: a.orderId })))));
    const byKey = new Map<string, Set<string>>();
    for (const a of answers) byKey.set(a.key, (byKey.get(a.key) ?? new Set()).add(a.orderId));
    for (const key of keys) {
      const ids = [...byKey.get(key)!];
      // One order per key, placed by its owner whichever instance took the call.
      expect(ids).toHaveLength(1);
      expect(orderOwner(ids[0]!)).toBe(keyOwner(key, instances));
    }
    for (const key of keys) {
      const orderId = [...byKey.get(key)!][0]!;
      const events = await s.events(orderId);
      expect(types(events)).toEqual(['OrderPlaced', 'PaymentAuthorized', 'StockReserved', 'OrderConfirmed']);
      const payment = await s.client.requestResponse<Payment>('payment.get', { orderId });
      expect(payment.ledger.map((l) => l.kind)).toEqual(['CHARGE']);
      expect(payment.calls).toEqual({ 'payment.authorize': 1 });
      expect((await s.client.requestResponse<Reservation>('inventory.get', { orderId })).calls).toEqual({ 'inventory.reserve': 1 });
    }
    // Both instances together hold exactly one order per key (each reports only what it placed).
    const own = await Promise.all(instances.map((i) => s.client.requestResponse<{ orders: { total: number }; relayedPlaces: { max: number } }>(`orders.owner.${i}.stats`, {})));
    const counts = own.map((st) => st.orders.total);
    expect(counts.reduce((a, b) => a + b, 0)).toBe(KEYS);
    // Each instance took places relayed by the other: the gateway sent keys to non-owners both ways.
    for (const st of own) expect(st.relayedPlaces.max).toBeGreaterThanOrEqual(1);
    for (const [i, instance] of instances.entries()) expect(counts[i]).toBe(keys.filter((k) => keyOwner(k, instances) === instance).length);

    // The owner of some keys goes away: placing them is refused, naming it, rather than placed twice.
    const child = s.orders.get('order-2')!;
    const gone = new Promise<void>((resolve) => child.process.once('exit', () => resolve()));
    child.process.kill('SIGKILL');
    await gone;
    const orphanKey = Array.from({ length: 100 }, (_, i) => `after-${i}`).find((k) => keyOwner(k, instances) === 'order-2')!;
    const refusal = await eventually(
      async () => {
        const e = await s.client.requestResponse('checkout.place', cmd(orphanKey)).then(
          () => undefined,
          (err: { code: string; message: string }) => err,
        );
        // (Until the gateway has seen it go, a call may still reach it and fail otherwise.)
        return e?.code === 'UNAVAILABLE' && e.message.includes("instance 'order-2'") ? e : undefined;
      },
      'checkout.place of a key whose owner is gone to be UNAVAILABLE',
    );
    expect(refusal.message).toMatch(/idempotency key 'after-\d+' belongs to order-service instance 'order-2', which is not connected/);
    // On checkout.submit, a command whose owner is gone ends the channel with that error after the acks
    // before it, instead of an ack that would settle it for good on a durable route.
    const before = Array.from({ length: 100 }, (_, i) => `submit-${i}`).find((k) => keyOwner(k, instances) === 'order-1')!;
    const acks: Array<{ idempotencyKey: string; orderId?: string }> = [];
    const channelError = await new Promise<{ code: string; message: string }>((resolve, reject) => {
      s.client.requestChannel<unknown, { idempotencyKey: string; orderId?: string }>('checkout.submit', from([cmd(before), cmd(orphanKey), cmd(`${before}-never`)])).subscribe({
        next: (a) => acks.push(a),
        error: (e: { code: string; message: string }) => resolve(e),
        complete: () => reject(new Error('the channel completed')),
      });
    });
    expect(channelError.code).toBe('UNAVAILABLE');
    expect(channelError.message).toContain("instance 'order-2'");
    expect(acks).toHaveLength(1);
    expect(acks[0]).toMatchObject({ idempotencyKey: before });
    expect(orderOwner(acks[0]!.orderId!)).toBe('order-1');
    // Keys order-1 owns are still placed, and its orders still read.
    const ownKey = Array.from({ length: 100 }, (_, i) => `after-${i}`).find((k) => keyOwner(k, instances) === 'order-1')!;
    const placed = await s.client.requestResponse<{ orderId: string }>('checkout.place', cmd(ownKey));
    expect(orderOwner(placed.orderId)).toBe('order-1');
    const ownOrder = [...byKey.values()].map((ids) => [...ids][0]!).find((id) => orderOwner(id) === 'order-1')!;
    expect(await s.client.requestResponse('orders.get', { orderId: ownOrder })).toMatchObject({ status: 'CONFIRMED' });
    // Back again: the key it owns is placed there, once.
    await s.startOrder('order-2');
    const again = await s.client.requestResponse<{ orderId: string }>('checkout.place', cmd(orphanKey));
    expect(orderOwner(again.orderId)).toBe('order-2');
    expect((await s.client.requestResponse<{ orderId: string }>('checkout.place', cmd(orphanKey))).orderId).toBe(again.orderId);
  }, 180_000);
});

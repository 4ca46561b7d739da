/**
 * A flooding producer on `checkout.submit`: a generator that yields commands
 * as fast as it is pulled. The order service requests a command only when
 * its bounded work queue has room, so the producer is throttled through
 * demand: what it has produced and not had acknowledged stays bounded, the
 * service's queue never passes its capacity, and every command is
 * acknowledged exactly once.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { submitWindow } from '../../src/order-service.js';
import { startCheckoutStack, type CheckoutStack } from '../helpers/checkout.js';

const COMMANDS = 1_000;
const QUEUE_SIZE = 32;
/** Acks the client requests ahead (its Observable tops up in halves). */
const ACK_PREFETCH = 16;

let s: CheckoutStack;
beforeAll(async () => {
  s = await startCheckoutStack({ flags: { order: ['--queue-size', String(QUEUE_SIZE)] } });
}, 60_000);
afterAll(async () => s?.close());

type Ack = { idempotencyKey: string | null; orderId?: string; error?: { code: string; message: string } };
type Pauses = { count: number; totalMs: number; p50: number; p99: number; max: number };
type Stats = {
  orders: { total: number };
  queue: { depth: number; max: number; capacity: number };
  sagas: { max: number; capacity: number };
  process: { eventLoopDelayMs: { p99: number; max: number }; gcPauseMs: { young: Pauses; full: Pauses } };
};

describe('checkout.submit under a flood', () => {
  it(`throttles a ${COMMANDS}-command producer through demand, with a bounded queue and every command acked once`, async () => {
    const before = await s.client.requestResponse<Stats>('orders.stats', {});
    let produced = 0;
    let acked = 0;
    let maxAhead = 0;
    const bad = (i: number) => i % 100 === 99;
    async function* flood() {
      for (let i = 0; i < COMMANDS; i++) {
        produced++;
        maxAhead = Math.max(maxAhead, produced - acked);
        // Every hundredth command is invalid: it must be acked with its error, like the others with their order.
        yield { idempotencyKey: `flood-${i}`, customerId: `cust-${i % 7}`, items: [{ sku: 'A1', qty: bad(i) ? -1 : 1 }] };
      }
    }
    const acks: Ack[] = [];
    const started = performance.now();
    await new Promise<void>((resolve, reject) =>
      s.client.requestChannel<unknown, Ack>('checkout.submit', flood(), { prefetch: ACK_PREFETCH }).subscribe({
        next: (a) => {
          acked++;
          acks.push(a);
        },
        error: reject,
        complete: resolve,
      }),
    );
    const seconds = (performance.now() - started) / 1000;
    const after = await s.client.requestResponse<Stats>('orders.stats', {});
    console.log(`flood: ${COMMANDS} commands acked in ${seconds.toFixed(2)} s (${Math.round(COMMANDS / seconds)}/s); producer ahead of acks at most ${maxAhead}; order queue max ${after.queue.max} of ${after.queue.capacity}`);

    // Every command acked exactly once, in command order, with its order or its error.
    expect(acks).toHaveLength(COMMANDS);
    expect(acks.map((a) => a.idempotencyKey)).toEqual(Array.from({ length: COMMANDS }, (_, i) => `flood-${i}`));
    acks.forEach((a, i) => {
      if (bad(i)) expect(a.error).toEqual({ code: 'INVALID_ARGUMENT', message: "'items[0].qty' must be a positive integer" });
      else expect(a.orderId).toMatch(/^ord_/);
    });
    const good = acks.filter((a) => a.orderId).length;
    expect(new Set(acks.map((a) => a.orderId).filter(Boolean)).size).toBe(good);
    expect(after.orders.total - before.orders.total).toBe(good);

    // The service's queue stayed within its bound (and was used: commands were pipelined)...
    expect(after.queue.capacity).toBe(QUEUE_SIZE);
    expect(after.queue.max).toBeLessThanOrEqual(QUEUE_SIZE);
    expect(after.queue.max).toBeGreaterThan(1);
    // The sagas the flood started ran within their bound too (the rest waited in the store).
    expect(after.sagas.max).toBeLessThanOrEqual(after.sagas.capacity);
    // ...and so did the producer. Produced and not acked at most: the channel's read-ahead, its share of the
    // queue (half), the acks we requested and have not received, and the one command the generator just yielded.
    expect(maxAhead).toBeLessThanOrEqual(submitWindow(QUEUE_SIZE) + QUEUE_SIZE / 2 + ACK_PREFETCH + 1);

    // The service reports its thread's collector pauses next to its event-loop delay: accepting a thousand
    // orders and starting their sagas allocates far more than one young generation, so scavenges ran.
    const young = after.process.gcPauseMs.young;
    expect(young.count).toBeGreaterThan(before.process.gcPauseMs.young.count);
    expect(young.totalMs).toBeGreaterThan(0);
    expect(young.max).toBeGreaterThanOrEqual(young.p99);
    expect(after.process.eventLoopDelayMs.max).toBeGreaterThan(0);
  }, 120_000);
});

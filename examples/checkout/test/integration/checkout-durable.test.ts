/**
 * A durable `checkout.submit` (the demo's gateway policies) on both backends,
 * with real processes: the order service killed -9 with commands in flight
 * and kept down for an outage (10 s by default, SLUICE_OUTAGE_MS to change)
 * while submits keep being acknowledged, then every accepted command is
 * exactly one order after its restart, found by the id its key derives.
 * The JetStream case runs on a real 3-node cluster with 3 replicas.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { firstValueFrom, from, toArray } from 'rxjs';
import { afterEach, describe, expect, it } from 'vitest';
import { checkoutPolicies } from '../../src/gateway-policies.js';
import { orderIdFor } from '../../src/order-store.js';
import { startJetStream } from '../../../bench/src/jetstream-cluster.js';
import { startCheckoutStack } from '../helpers/checkout.js';

const OUTAGE_MS = Number(process.env.SLUICE_OUTAGE_MS ?? 10_000);

let cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const fn of cleanups.reverse()) await fn();
  cleanups = [];
});

async function eventually<T>(fn: () => Promise<T | undefined | false> | T | undefined | false, what: string, attempts: number, waitMs: number): Promise<T> {
  for (let i = 0; i < attempts; i++) {
    const v = await fn();
    if (v) return v;
    await new Promise((r) => setTimeout(r, waitMs));
  }
  throw new Error(`timed out waiting for ${what}`);
}

interface Ack {
  id?: string;
  error?: { code: string };
}

describe.each(['embedded', 'jetstream'] as const)('durable checkout.submit (%s backend)', (backend) => {
  it(`order service killed -9 and down for ${OUTAGE_MS} ms: submits are still accepted, and every one is exactly one order after its restart`, async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sluice-durable-checkout-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    let on: object = { durable: { dir: join(dir, 'durable') } };
    if (backend === 'jetstream') {
      const cluster = await startJetStream(3);
      cleanups.push(() => cluster.stop());
      on = { nats: { servers: cluster.servers, replicas: 3, streamPrefix: 'OUTAGE' } };
    }
    const stack = await startCheckoutStack({ gateway: { policies: checkoutPolicies, ...on } });
    cleanups.push(() => stack.close());
    const run = `outage-${backend}-${process.pid}`;
    let sent = 0;
    const submit = async (n: number) => {
      const cmds = Array.from({ length: n }, (_, k) => ({ idempotencyKey: `${run}-${sent + k}`, customerId: `c-${(sent + k) % 7}`, items: [{ sku: 'A1', qty: 1 }] }));
      sent += n;
      const acks = await firstValueFrom(stack.client.requestChannel<unknown, Ack>('checkout.submit', from(cmds)).pipe(toArray()));
      expect(acks.filter((a) => a.id === undefined)).toEqual([]);
    };

    // Commands in flight when the service dies.
    await submit(40);
    await stack.kill('order');
    const started = Date.now();
    // Submits during the outage: acknowledged as persisted, never NO_ROUTE.
    while (Date.now() - started < OUTAGE_MS) {
      await submit(10);
      await new Promise((r) => setTimeout(r, Math.min(1_000, OUTAGE_MS / 5)));
    }
    await stack.start('order');

    const stats = await eventually(async () => {
      const s = await stack.client.requestResponse<{ orders: { total: number } }>('orders.stats', {});
      return s.orders.total >= sent ? s : undefined;
    }, 'every accepted command placed', 600, 50);
    // Exactly one order per command: redeliveries of the commands in flight at the kill answered their existing order.
    expect(stats.orders.total).toBe(sent);
    await eventually(() => stack.gateway.durable?.stats().find((s) => s.route === 'checkout.submit')?.depth === 0, 'the durable queue drained', 200, 50);
    for (const i of [0, 39, 40, sent - 1]) {
      const view = await stack.client.requestResponse<{ orderId: string }>('orders.get', { orderId: orderIdFor(`${run}-${i}`) });
      expect(view.orderId).toBe(orderIdFor(`${run}-${i}`));
    }
  }, 180_000);
});

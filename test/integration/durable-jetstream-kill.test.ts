/**
 * Kill tests of durable routes on NATS JetStream (a real 3-node cluster on
 * loopback, streams with 3 replicas): one NATS node killed -9 under load
 * while commands keep being accepted and delivered; and the order service
 * killed -9 and down for an outage (10 s by default, SLUICE_OUTAGE_MS to
 * change) while `checkout.submit` keeps accepting, every accepted command
 * then becoming exactly one order.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { firstValueFrom, from, toArray } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { checkoutPolicies } from '../../src/checkout/gateway-policies.js';
import { orderIdFor } from '../../src/checkout/order-store.js';
import { startJetStream, type JetStreamCluster } from '../../src/bench/jetstream-cluster.js';
import { streamName } from '../../src/durable/jetstream-queue.js';
import { connect } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { startCheckoutStack } from '../helpers/checkout.js';
import { eventually, useHarness } from '../helpers/harness.js';

const h = useHarness();
const OUTAGE_MS = Number(process.env.SLUICE_OUTAGE_MS ?? 10_000);
/** A 3-node cluster of the test's own: a node one test kills is not missing from the next. */
async function freshCluster(): Promise<JetStreamCluster> {
  const cluster = await startJetStream(3);
  h.onCleanup(() => cluster.stop());
  return cluster;
}

describe('durable kill tests (NATS JetStream, 3 nodes)', () => {
  it('the NATS node leading the route stream killed -9 under load: commands keep being accepted, and every acknowledged one is delivered', async () => {
    const cluster = await freshCluster();
    const dir = await mkdtemp(join(tmpdir(), 'sluice-js-kill-'));
    h.onCleanup(() => rm(dir, { recursive: true, force: true }));
    const gw = await h.gateway({
      nats: { servers: cluster.servers, replicas: 3, streamPrefix: 'NODEKILL' },
      deadLetter: { dir },
      policies: { defaults: {}, routes: { 'jobs.do': { durable: { enabled: true, delivery: 'response' } } } },
    });
    const seen = new Set<number>();
    await h.service({ url: gw.url, service: 'jobs', instance: 'jobs-1', routes: { 'jobs.do': { requestResponse: (d: { n: number }) => (seen.add(d.n), {}) } } });
    const client = await h.client(gw.url);
    const acked: number[] = [];
    let next = 0;
    /** Sends `count` commands, each retried until acknowledged (a publish during the cluster's re-election may fail UNAVAILABLE). */
    const send = async (count: number) => {
      await Promise.all(
        Array.from({ length: count }, async () => {
          const n = next++;
          for (let attempt = 0; attempt < 50; attempt++) {
            try {
              await client.requestResponse('jobs.do', { n });
              acked.push(n);
              return;
            } catch {
              await new Promise((r) => setTimeout(r, 100));
            }
          }
          throw new Error(`command ${n} never acknowledged`);
        }),
      );
    };
    await send(100);
    // The hardest node to lose: the one leading the route's stream.
    const nc = await connect({ servers: cluster.servers });
    const info = await (await jetstreamManager(nc)).streams.info(streamName('NODEKILL', 'jobs.do'));
    await nc.close();
    const leader = cluster.nodes.find((n) => n.name === info.cluster?.leader);
    expect(leader).toBeDefined();
    await leader!.kill();
    await send(200);
    expect(acked).toHaveLength(300);
    await eventually(() => acked.every((n) => seen.has(n)), 'every acknowledged command delivered', 600, 50);
  }, 120_000);

  it(`order service killed -9 and down for ${OUTAGE_MS} ms: submits are still accepted, and every one is exactly one order after its restart`, async () => {
    const cluster = await freshCluster();
    const stack = await startCheckoutStack({ gateway: { policies: checkoutPolicies, nats: { servers: cluster.servers, replicas: 3, streamPrefix: 'OUTAGE' } } });
    h.onCleanup(() => stack.close());
    const run = `js-outage-${process.pid}`;
    let sent = 0;
    const submit = async (n: number) => {
      const cmds = Array.from({ length: n }, (_, k) => ({ idempotencyKey: `${run}-${sent + k}`, customerId: 'c-1', items: [{ sku: 'B2', qty: 1 }] }));
      sent += n;
      const acks = await firstValueFrom(stack.client.requestChannel<unknown, { id?: string }>('checkout.submit', from(cmds)).pipe(toArray()));
      expect(acks.filter((a) => a.id === undefined)).toEqual([]);
    };
    await submit(30);
    await stack.kill('order');
    const started = Date.now();
    while (Date.now() - started < OUTAGE_MS) {
      await submit(10);
      await new Promise((r) => setTimeout(r, Math.min(1_000, OUTAGE_MS / 5)));
    }
    await stack.start('order');
    const stats = await eventually(async () => {
      const s = await stack.client.requestResponse<{ orders: { total: number } }>('orders.stats', {});
      return s.orders.total >= sent ? s : undefined;
    }, 'every accepted command placed', 600, 50);
    expect(stats.orders.total).toBe(sent);
    const view = await stack.client.requestResponse<{ orderId: string }>('orders.get', { orderId: orderIdFor(`${run}-${sent - 1}`) });
    expect(view.orderId).toBe(orderIdFor(`${run}-${sent - 1}`));
  }, 180_000);
});

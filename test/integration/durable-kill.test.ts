/**
 * Kill tests of durable routes on the embedded backend, one machine, real
 * processes: the order service killed -9 with commands in flight and kept
 * down for an outage (10 s by default, SLUICE_OUTAGE_MS to change) while
 * `checkout.submit` keeps accepting, then every accepted command is exactly
 * one order after its restart; and the gateway itself killed -9 right after
 * acknowledging commands, which its restart on the same directory delivers.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { firstValueFrom, from, toArray } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { connect } from '../../clients/node/index.js';
import { checkoutPolicies } from '../../src/checkout/gateway-policies.js';
import { orderIdFor } from '../../src/checkout/order-store.js';
import { startChild, type Child } from '../../src/demo/supervisor.js';
import { startCheckoutStack } from '../helpers/checkout.js';
import { eventually, useHarness } from '../helpers/harness.js';

const h = useHarness();
const OUTAGE_MS = Number(process.env.SLUICE_OUTAGE_MS ?? 10_000);

interface Ack {
  id?: string;
  error?: { code: string };
}

const command = (run: string, i: number) => ({ idempotencyKey: `${run}-${i}`, customerId: `c-${i % 7}`, items: [{ sku: 'A1', qty: 1 }] });

describe('durable kill tests (embedded backend)', () => {
  it(`order service killed -9 and down for ${OUTAGE_MS} ms: submits are still accepted, and every one is exactly one order after its restart`, async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sluice-durable-kill-'));
    h.onCleanup(() => rm(dir, { recursive: true, force: true }));
    const stack = await startCheckoutStack({ gateway: { policies: checkoutPolicies, durable: { dir: join(dir, 'durable') } } });
    h.onCleanup(() => stack.close());
    const run = `outage-${process.pid}`;
    const submit = async (from_: number, n: number) => {
      const cmds = Array.from({ length: n }, (_, k) => command(run, from_ + k));
      const acks = await firstValueFrom(stack.client.requestChannel<unknown, Ack>('checkout.submit', from(cmds)).pipe(toArray()));
      expect(acks.filter((a) => a.id === undefined)).toEqual([]);
      return acks;
    };

    // Commands in flight when the service dies.
    await submit(0, 40);
    await stack.kill('order');
    const started = Date.now();
    let sent = 40;
    // Submits during the outage: accepted (acknowledged as persisted), never NO_ROUTE.
    while (Date.now() - started < OUTAGE_MS) {
      await submit(sent, 10);
      sent += 10;
      await new Promise((r) => setTimeout(r, Math.min(1_000, OUTAGE_MS / 5)));
    }
    expect(gwDepth(stack.gateway)).toBeGreaterThan(0);
    await stack.start('order');

    await eventually(() => gwDepth(stack.gateway) === 0, 'every accepted command delivered', 600, 50);
    const stats = await eventually(async () => {
      const s = await stack.client.requestResponse<{ orders: { total: number } }>('orders.stats', {});
      return s.orders.total >= sent ? s : undefined;
    }, 'orders placed', 400, 50);
    // Exactly one order per command: redeliveries of the commands in flight at the kill answered their existing order.
    expect(stats.orders.total).toBe(sent);
    for (const i of [0, 39, 40, sent - 1]) {
      const view = await stack.client.requestResponse<{ orderId: string }>('orders.get', { orderId: orderIdFor(`${run}-${i}`) });
      expect(view.orderId).toBe(orderIdFor(`${run}-${i}`));
    }
  }, 120_000);

  it('gateway killed -9 right after acknowledging: its restart on the same directory delivers every acknowledged command', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sluice-durable-gw-'));
    h.onCleanup(() => rm(dir, { recursive: true, force: true }));
    const args = ['gateway', '--port', '0', '--admin-port', '0', '--durable-dir', join(dir, 'durable'), '--dead-letter-dir', join(dir, 'dlq'), '--policy', 'jobs.do:durable={"enabled":true,"delivery":"response"}'];
    const startGateway = async (): Promise<{ child: Child; url: string }> => {
      const child = startChild({ name: 'gateway', args, env: { SLUICE_LOG_LEVEL: 'silent' } }, 'ignore');
      h.onCleanup(() => child.stop(2_000));
      const { url } = await child.message<{ url: string }>('listening', 30_000);
      return { child, url };
    };

    const first = await startGateway();
    const client = await connect({ url: first.url });
    const acked: number[] = [];
    // Acknowledged commands, then a kill with more being sent: only the acknowledged ones are promised.
    const sends = Array.from({ length: 300 }, (_, i) => client.requestResponse<{ id: string }>('jobs.do', { n: i }).then(() => void acked.push(i), () => undefined));
    await Promise.race([Promise.all(sends), eventually(() => acked.length >= 200, '200 acks', 400, 10)]);
    const gone = new Promise<void>((r) => first.child.process.once('exit', () => r()));
    first.child.process.kill('SIGKILL');
    await gone;
    client.close();
    const promised = [...acked];
    expect(promised.length).toBeGreaterThanOrEqual(200);

    // The lock of the killed process is stale: the restart takes the directory over.
    const second = await startGateway();
    const seen = new Set<number>();
    await h.service({ url: second.url, service: 'jobs', instance: 'jobs-1', routes: { 'jobs.do': { requestResponse: (d: { n: number }) => (seen.add(d.n), {}) } } });
    await eventually(() => promised.every((n) => seen.has(n)), 'every acknowledged command delivered after the restart', 400, 25);
  }, 120_000);
});

function gwDepth(gw: { durable: { stats(): Array<{ route: string; depth: number }> } | undefined }): number {
  return gw.durable?.stats().find((s) => s.route === 'checkout.submit')?.depth ?? -1;
}

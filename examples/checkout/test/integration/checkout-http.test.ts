/**
 * The checkout services (real processes) for plain HTTP callers, with the
 * demo's gateway policies (gateway-policies.ts): an order placed with POST,
 * its status polled with GET and If-None-Match (304 while unchanged), its
 * events followed as Server-Sent Events; and the cache policy on
 * `inventory.stock`: answers within a second come from the gateway, and
 * while the inventory service is killed the last answer is served, marked
 * stale, over the HTTP bridge and RSocket alike; after a restart fresh
 * answers return.
 */
import { request } from 'node:http';
import { afterAll, describe, expect, it } from 'vitest';
import { checkoutPolicies } from '../../src/gateway-policies.js';
import { startCheckoutStack, type CheckoutStack } from '../helpers/checkout.js';
import { eventually } from '../../../../test/helpers/harness.js';

let stack: CheckoutStack | undefined;
afterAll(async () => {
  await stack?.close();
});

/** The whole body of an event stream (it ends with the order's terminal event). */
function readEventStream(url: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

describe('checkout over the HTTP bridge', () => {
  it("places an order with POST, polls its status with GET and ETag, and follows its events as Server-Sent Events", async () => {
    const s = (stack ??= await startCheckoutStack({ gateway: { policies: checkoutPolicies } }));
    const base = `${s.gateway.url.replace(/^ws/, 'http')}/v1`;
    const placed = await fetch(`${base}/routes/checkout.place`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ idempotencyKey: `http-${process.pid}`, customerId: 'c-http', items: [{ sku: 'A1', qty: 1 }] }),
    });
    expect(placed.status).toBe(200);
    const { orderId } = (await placed.json()) as { orderId: string };

    const watched = await readEventStream(`${base}/streams/orders.watch?orderId=${encodeURIComponent(orderId)}`);
    expect(watched.status).toBe(200);
    const events = watched.text
      .split('\n\n')
      .filter((block) => block.startsWith('id: '))
      .map((block) => ({ id: Number(/^id: (\d+)/.exec(block)![1]), event: JSON.parse(/^data: (.*)$/m.exec(block)![1]!) as { type: string; seq: number } }));
    expect(events.map((e) => e.event.type)).toEqual(['OrderPlaced', 'PaymentAuthorized', 'StockReserved', 'OrderConfirmed']);
    expect(events.map((e) => e.id)).toEqual([1, 2, 3, 4]);
    expect(watched.text.trimEnd().endsWith('event: complete\ndata: {}')).toBe(true);

    const status = `${base}/routes/orders.get?orderId=${encodeURIComponent(orderId)}`;
    const polled = await fetch(status);
    expect(polled.status).toBe(200);
    expect(await polled.json()).toMatchObject({ orderId, status: 'CONFIRMED' });
    const etag = polled.headers.get('etag')!;
    expect(etag).toMatch(/^"[\w-]+"$/);
    const again = await fetch(status, { headers: { 'if-none-match': etag } });
    expect(again.status).toBe(304);
    expect(again.headers.get('etag')).toBe(etag);
  }, 120_000);

  it('serves inventory.stock from the cache while the inventory service is killed, marked stale', async () => {
    const s = (stack ??= await startCheckoutStack({ gateway: { policies: checkoutPolicies } }));
    const stock = `${s.gateway.url.replace(/^ws/, 'http')}/v1/routes/inventory.stock`;
    const first = await fetch(stock);
    expect(first.status).toBe(200);
    const items = ((await first.json()) as { items: { sku: string; available: number }[] }).items;
    expect(items.length).toBeGreaterThan(0);
    expect(first.headers.get('cache-control')).toBe('private, max-age=1, stale-if-error=60');

    await s.kill('inventory');
    await eventually(() => !s.gateway.registry.has('inventory.stock'), 'the inventory instance to be gone', 400, 25);
    const stale = await eventually(async () => {
      const r = await fetch(stock);
      return r.headers.get('sluice-cache') === 'hit' ? undefined : r;
    }, 'the one-second TTL to pass', 400, 25);
    expect(stale.status).toBe(200);
    expect(stale.headers.get('sluice-cache')).toBe('stale');
    expect(stale.headers.get('warning')).toMatch(/^110 - "Response is Stale" \(NO_ROUTE\)/);
    expect(((await stale.json()) as { items: unknown[] }).items).toEqual(items);
    // The same answer for an RSocket client.
    expect(await s.client.requestResponse('inventory.stock', {})).toEqual({ items });
    // A read the cache never saw has nothing to fall back on.
    expect((await fetch(`${stock}?sku=A1`)).status).toBe(404);

    await s.start('inventory');
    const fresh = await eventually(async () => {
      const r = await fetch(stock);
      return r.headers.get('sluice-cache') === 'stale' ? undefined : r;
    }, 'a fresh answer after the restart', 400, 25);
    expect(fresh.status).toBe(200);
  }, 120_000);
});

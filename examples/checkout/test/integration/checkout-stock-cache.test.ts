/**
 * The demo's cache policy on `inventory.stock` (gateway-policies.ts) with the
 * real inventory process: answers within a second come from the gateway, and
 * while the inventory service is killed the last answer is served, marked
 * stale, over the HTTP bridge and RSocket alike; after a restart fresh
 * answers return.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { checkoutPolicies } from '../../src/gateway-policies.js';
import { startCheckoutStack, type CheckoutStack } from '../helpers/checkout.js';
import { eventually } from '../../../../test/helpers/harness.js';

let stack: CheckoutStack | undefined;
afterAll(async () => {
  await stack?.close();
});

describe('checkout stock cache', () => {
  it('serves inventory.stock from the cache while the inventory service is killed, marked stale', async () => {
    const s = (stack = await startCheckoutStack({ gateway: { policies: checkoutPolicies } }));
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

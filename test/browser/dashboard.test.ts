/**
 * The dashboard in real Chromium against a real gateway: it loads from the
 * admin server, connects with the browser client, shows numbers that move
 * while load runs, stays responsive, places an order and shows its events up
 * to OrderConfirmed, and says so when the gateway goes away.
 *
 * The checkout panel talks to the real checkout services (order, payment,
 * inventory as child processes) on the demo's gateway policies.
 */
import { copyFile, mkdir } from 'node:fs/promises';
import { expect, it } from 'vitest';
import { describeBrowser, useBrowser } from '../helpers/browser.js';
import { checkoutPolicies } from '../../examples/checkout/src/gateway-policies.js';
import { startCheckoutStack } from '../../examples/checkout/test/helpers/checkout.js';
import { useHarness } from '../helpers/harness.js';

const h = useHarness();
const b = useBrowser();

/** A real gateway with the checkout services around it, closed after the test. */
async function checkoutGateway() {
  const stack = await startCheckoutStack({ gateway: { policies: checkoutPolicies } });
  h.onCleanup(() => stack.close());
  return stack.gateway;
}

const ARTIFACT = 'test-results/dashboard.png';
const README_IMAGE = 'docs/img/dashboard.png';

describeBrowser('dashboard', () => {
  it('connects, shows live numbers under load, stays responsive, and reports a lost gateway', { timeout: 90_000 }, async () => {
    const gw = await checkoutGateway();
    await h.service({ url: gw.url, service: 'bench', instance: 'bench-1' });
    const page = await b.page();
    await page.goto(`${gw.adminUrl}/`);
    await page.locator('#conn[data-state="connected"]').waitFor({ timeout: 15_000 });
    const row = (route: string) => page.locator(`#routes-body tr[data-route="${route}"]`);
    await row('bench.source').waitFor({ timeout: 10_000 });
    expect(await row('bench.source').locator('.rate').textContent()).toBe('0');
    expect(await row('bench.source').locator('.inflight').textContent()).toBe('0');
    expect(await page.locator('#instances-body tr[data-instance="bench/bench-1"] .routes').textContent()).toContain('bench.source');

    // Bounded load: one Node consumer streaming from bench.source (at most 200k items, stopped below).
    const loader = await h.client(gw.url);
    let received = 0;
    const load = loader.requestStream('bench.source', { id: 'dash-load', count: 200_000, size: 200 }, { prefetch: 64 }).subscribe(() => received++);
    try {
      await expect.poll(async () => Number(await row('bench.source').locator('.inflight').textContent()), { timeout: 10_000 }).toBe(1);
      await expect.poll(async () => parseRate(await row('bench.source').locator('.rate').textContent()), { timeout: 10_000 }).toBeGreaterThan(0);
      const before = Number(await page.locator('#snapshot-count').textContent());
      // Responsive while it runs: script round trips stay short, typing works, snapshots keep coming.
      for (let i = 0; i < 5; i++) {
        const t0 = performance.now();
        await page.evaluate(() => document.title);
        expect(performance.now() - t0).toBeLessThan(1_000);
      }
      await page.locator('#sku').fill('B2');
      expect(await page.locator('#sku').inputValue()).toBe('B2');
      await expect.poll(async () => Number(await page.locator('#snapshot-count').textContent()), { timeout: 10_000 }).toBeGreaterThan(before + 1);
      expect(received).toBeGreaterThan(0);
      await page.locator('#sku').fill('A1');
      // An order placed under load completes too (and fills the panel for the screenshot).
      await page.locator('#place').click();
      await page.locator('#order-events li[data-type="OrderConfirmed"]').waitFor({ timeout: 10_000 });
      await mkdir('test-results', { recursive: true });
      await page.screenshot({ path: ARTIFACT, fullPage: true });
      if (process.env.SLUICE_UPDATE_SCREENSHOTS === '1') await copyFile(ARTIFACT, README_IMAGE);
    } finally {
      load.unsubscribe();
    }
    // Load gone: the numbers go back down.
    await expect.poll(async () => Number(await row('bench.source').locator('.inflight').textContent()), { timeout: 10_000 }).toBe(0);
    await expect.poll(async () => parseRate(await row('bench.source').locator('.rate').textContent()), { timeout: 10_000 }).toBe(0);
    expect(b.errors).toEqual([]);

    // The gateway goes away: the page says it is disconnected and retrying.
    await gw.close();
    await page.locator('#conn[data-state="retrying"]').waitFor({ timeout: 10_000 });
    expect(await page.locator('#conn').textContent()).toBe('disconnected, retrying…');
  });

  it('places an order and shows its events up to OrderConfirmed', { timeout: 90_000 }, async () => {
    const gw = await checkoutGateway();
    const page = await b.page();
    await page.goto(`${gw.adminUrl}/`);
    await page.locator('#conn[data-state="connected"]').waitFor({ timeout: 15_000 });
    await page.locator('#sku').fill('A1');
    await page.locator('#qty').fill('2');
    await page.locator('#place').click();
    await page.locator('#order-events li[data-type="OrderConfirmed"]').waitFor({ timeout: 10_000 });
    const types = await page.locator('#order-events li').evaluateAll((lis) => lis.map((li) => (li as HTMLElement).dataset.type));
    expect(types.at(-1)).toBe('OrderConfirmed');
    expect(types[0]).toBe('OrderPlaced');
    expect(types).toEqual(['OrderPlaced', 'PaymentAuthorized', 'StockReserved', 'OrderConfirmed']);
    expect(await page.locator('#order-status').textContent()).toMatch(/^order ord_\S+: OrderConfirmed$/);
    expect(b.errors).toEqual([]);
  });

  it('shows a route error in the checkout panel when no checkout service runs', async () => {
    const gw = await h.gateway();
    const page = await b.page();
    await page.goto(`${gw.adminUrl}/`);
    await page.locator('#conn[data-state="connected"]').waitFor({ timeout: 15_000 });
    await page.locator('#place').click();
    await page.locator('#order-status[data-state="error"]').waitFor({ timeout: 10_000 });
    expect(await page.locator('#order-status').textContent()).toContain('NO_ROUTE');
  });
});

function parseRate(text: string | null): number {
  const t = (text ?? '').trim();
  return t.endsWith('k') ? Number(t.slice(0, -1)) * 1000 : Number(t);
}

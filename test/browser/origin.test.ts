/**
 * Finding: any web page a user opened could open a WebSocket to the gateway.
 * In real Chromium: a page served from a foreign origin (another local HTTP
 * server) is refused at the upgrade, the same page is let in once its origin
 * is configured, and the dashboard (the admin server's origin) still connects.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect, it } from 'vitest';
import { describeBrowser, useBrowser } from '../helpers/browser.js';
import { metricValue, metricsText, useHarness } from '../helpers/harness.js';

const h = useHarness();
const b = useBrowser();

/** A site on its own origin whose page opens a WebSocket to `?gw=<url>` and writes the outcome into body[data-result]. */
async function foreignSite(): Promise<string> {
  const page = `<!doctype html><title>elsewhere</title><body><script>
    const ws = new WebSocket(new URLSearchParams(location.search).get('gw'));
    ws.onopen = () => { document.body.dataset.result = 'open'; ws.close(); };
    ws.onclose = (e) => { if (!document.body.dataset.result) document.body.dataset.result = 'closed ' + e.code; };
  </script></body>`;
  const server: Server = createServer((_req, res) => res.writeHead(200, { 'content-type': 'text/html' }).end(page));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  h.onCleanup(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

async function outcome(site: string, gatewayUrl: string): Promise<string | null> {
  const page = await b.page();
  await page.goto(`${site}/?gw=${encodeURIComponent(gatewayUrl)}`);
  await page.locator('body[data-result]').waitFor({ state: 'attached', timeout: 10_000 });
  return page.locator('body').getAttribute('data-result');
}

describeBrowser('browser origins', () => {
  it('a page from a foreign origin cannot open the gateway WebSocket; with its origin configured it can; the dashboard connects', { timeout: 60_000 }, async () => {
    const site = await foreignSite();
    const gw = await h.gateway();
    expect(await outcome(site, gw.url)).toBe('closed 1006');
    expect(metricValue(await metricsText(gw), 'sluice_connections_refused_total', { reason: 'origin' })).toBe(1);
    b.errors.length = 0; // Chromium logs the refused handshake as a console error: expected here.

    // The same page, once its origin is configured: the refusal above was the origin check, nothing else.
    const allowing = await h.gateway({ listen: { allowedOrigins: [site] } });
    expect(await outcome(site, allowing.url)).toBe('open');

    const dashboard = await b.page();
    await dashboard.goto(`${gw.adminUrl}/`);
    await dashboard.locator('#conn[data-state="connected"]').waitFor({ timeout: 15_000 });
    expect(b.errors).toEqual([]);
  });
});

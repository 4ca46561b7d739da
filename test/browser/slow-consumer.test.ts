/**
 * A slow tab slows its stream: the docs example page (docs/examples/slow-consumer.html)
 * pulls one item per second from bench.source with the browser client. The
 * producer must run at exactly the page's pace, and closing the tab must
 * cancel the stream at the producer.
 */
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect, it } from 'vitest';
import { describeBrowser, useBrowser } from '../helpers/browser.js';
import { eventually, useHarness, type Harness } from '../helpers/harness.js';

const h = useHarness();
const b = useBrowser();

const EXAMPLE = new URL('../../docs/examples/slow-consumer.html', import.meta.url);
const ITEMS = 4;

interface SourceStats {
  emitted: number;
  requested: number;
  cancelled: boolean;
  completed: boolean;
}

describeBrowser('a slow browser consumer', () => {
  it('receives one item per pull, the producer keeps its pace, and closing the tab cancels the stream', { timeout: 60_000 }, async () => {
    // The docs example, served by an app's own web server (another origin than the gateway's, which the gateway must allow), with the client bundle beside it.
    let adminUrl = '';
    const pageUrl = await serveExample(h, () => adminUrl);
    const gw = await h.gateway({ listen: { allowedOrigins: [new URL(pageUrl).origin] } });
    adminUrl = gw.adminUrl!;
    await h.service({ url: gw.url, service: 'bench' });
    const observer = await h.client(gw.url);
    const stats = (id: string) => observer.requestResponse<SourceStats>('bench.stats', { id });
    const window = gw.config.flow.window;
    const page = await b.page();

    // At each arrival the page waits for this check before its second of work: the producer's own counters.
    const checks: Array<{ received: number; seq: number; requestedAtProducer: number; stats: SourceStats }> = [];
    await page.exposeFunction('onSlowItem', async (received: number, item: { seq: number; requested: number }) => {
      checks.push({ received, seq: item.seq, requestedAtProducer: item.requested, stats: await stats('slow-tab') });
    });
    const started = performance.now();
    await page.goto(`${pageUrl}?gateway=${encodeURIComponent(gw.url)}&delayMs=1000&id=slow-tab`);

    await expect.poll(() => checks.length, { timeout: ITEMS * 1_000 + 10_000, interval: 100 }).toBeGreaterThanOrEqual(ITEMS);
    const elapsed = performance.now() - started;
    const seen = await page.evaluate(() => (window as unknown as { slowConsumer: { received: number; error: string | null } }).slowConsumer);
    expect(seen.error).toBeNull();

    for (const [i, c] of checks.entries()) {
      expect(c.received).toBe(i + 1);
      expect(c.seq).toBe(i);
      // The page pulls one at a time and the gateway asks one ahead of it (prefetch: as many as the first
      // request): when item i was sent, the producer had been asked for i + 1, or i + 2 for the very first items.
      expect(c.requestedAtProducer).toBeGreaterThanOrEqual(i + 1);
      expect(c.requestedAtProducer).toBeLessThanOrEqual(i + 2);
      // Seen from the producer while the page holds item i: at most the one item the gateway holds ahead of the page.
      expect(c.stats.emitted - c.received).toBeGreaterThanOrEqual(0);
      expect(c.stats.emitted - c.received).toBeLessThanOrEqual(1);
      expect(c.stats.requested - c.received).toBeLessThanOrEqual(1);
      expect(c.stats.emitted - c.received).toBeLessThanOrEqual(window);
      expect(c.stats.cancelled).toBe(false);
    }
    // One second of work per item: ITEMS items cannot arrive faster than (ITEMS - 1) seconds.
    expect(elapsed).toBeGreaterThanOrEqual((ITEMS - 1) * 1_000);

    const before = await stats('slow-tab');
    await page.close();
    const after = await eventually(async () => {
      const s = await stats('slow-tab');
      return s.cancelled ? s : undefined;
    }, 'the producer to see the closed tab cancel its stream', 100, 50);
    expect(after.completed).toBe(false);
    // At most the one the gateway held ahead of the page and the one the page had asked for when it closed.
    expect(after.emitted - before.emitted).toBeLessThanOrEqual(2);
    expect(b.errors).toEqual([]);
  });
});

/** A minimal static web server for the example page and the bundle (fetched once, on first request, from the admin server). */
async function serveExample(h: Harness, adminUrl: () => string): Promise<string> {
  const html = await readFile(EXAMPLE, 'utf8');
  let bundle: Promise<string> | undefined;
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/slow-consumer.html') res.writeHead(200, { 'content-type': 'text/html' }).end(html);
    else if (path === '/assets/sluice.js') {
      bundle ??= fetch(`${adminUrl()}/assets/sluice.js`).then((r) => r.text());
      void bundle.then((js) => res.writeHead(200, { 'content-type': 'text/javascript' }).end(js));
    } else res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  h.onCleanup(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/slow-consumer.html`;
}

/**
 * The browser client carries W3C trace context: a page in Chromium passes
 * its own `traceparent`/`tracestate` with `{ trace }` on a request-response
 * and a request-stream, and at a real OTLP/HTTP receiver the gateway's span
 * is the child of the page's context and the parent of the service's span.
 * The page is the admin server's own origin (the one the gateway trusts).
 */
import { afterEach, beforeEach, expect, it } from 'vitest';
import { describeBrowser, useBrowser } from '../helpers/browser.js';
import { useHarness } from '../helpers/harness.js';
import { startOtlpReceiver, type OtlpReceiver, type ReceivedSpan } from '../helpers/otlp-receiver.js';

const h = useHarness();
const b = useBrowser();
let receiver: OtlpReceiver;

beforeEach(async () => {
  receiver = await startOtlpReceiver();
});
afterEach(async () => {
  await receiver.close();
});

type TraceContext = { traceparent: string; tracestate?: string };
type PageClient = {
  connect(o: object): Promise<{
    requestResponse(r: string, d: unknown, o: { trace: TraceContext }): Promise<unknown>;
    iterateStream(r: string, d: unknown, o: { trace: TraceContext; prefetch: number }): AsyncIterable<unknown>;
    close(): void;
  }>;
};

describeBrowser('browser client trace context', () => {
  it("makes the page's context the parent of the gateway's spans, and the gateway's the parent of the service's", { timeout: 60_000 }, async () => {
    const gw = await h.gateway({ tracing: { endpoint: receiver.url, serviceName: 'gw-browser' } });
    const svc = await h.service({ url: gw.url, service: 'bench', instance: 'bench-b1', tracing: { endpoint: receiver.url } });
    const page = await b.page();
    await page.route('**/favicon.ico', (route) => route.fulfill({ status: 204 }));
    await page.goto(`${gw.adminUrl}/healthz`);
    await page.evaluate(`import(${JSON.stringify(`${gw.adminUrl}/assets/sluice.js`)}).then((m) => { window.sluice = m; })`);

    const result = await page.evaluate(async (url) => {
      const { connect } = (window as unknown as { sluice: PageClient }).sluice;
      // As a page's own tracer would make them: random ids, sampled.
      const hex = (bytes: number) => [...crypto.getRandomValues(new Uint8Array(bytes))].map((x) => x.toString(16).padStart(2, '0')).join('');
      const traceId = hex(16);
      const rrParent = hex(8);
      const streamParent = hex(8);
      const client = await connect({ url });
      const echoed = await client.requestResponse('bench.echo', { from: 'browser' }, { trace: { traceparent: `00-${traceId}-${rrParent}-01`, tracestate: 'page=1' } });
      const items: unknown[] = [];
      for await (const item of client.iterateStream('bench.source', { count: 3 }, { trace: { traceparent: `00-${traceId}-${streamParent}-01` }, prefetch: 1 })) items.push(item);
      client.close();
      return { echoed, items: items.length, traceId, rrParent, streamParent };
    }, gw.url);
    expect(result.echoed).toEqual({ from: 'browser' });
    expect(result.items).toBe(3);

    await gw.close();
    await svc.tracer!.flush();
    const find = (spans: readonly ReceivedSpan[], service: string, name: string) => spans.find((s) => s.traceId === result.traceId && s.service === service && s.name === name);
    await receiver.until((s) => ['gw-browser', 'bench'].every((svcName) => find(s, svcName, 'bench.echo') && find(s, svcName, 'bench.source')));
    for (const [route, parent] of [['bench.echo', result.rrParent], ['bench.source', result.streamParent]] as const) {
      const g = find(receiver.spans, 'gw-browser', route)!;
      const s = find(receiver.spans, 'bench', route)!;
      expect(g.parentSpanId).toBe(parent);
      expect(s.parentSpanId).toBe(g.spanId);
      expect(g.attributes).toMatchObject({ 'sluice.route': route, 'sluice.instance': 'bench-b1' });
    }
    expect(b.errors).toEqual([]);
  });
});

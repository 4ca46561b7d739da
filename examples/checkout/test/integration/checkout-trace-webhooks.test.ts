/**
 * The checkout services as real processes around an in-process gateway, with
 * tracing and webhooks on: one trace across client -> gateway -> order ->
 * payment -> inventory at a real OTLP/HTTP receiver (the services configured
 * by the standard OTEL_* variables), the saga's steps children of the
 * order's span; and the order's events delivered, signed and in order, to a
 * real HTTP endpoint subscribed to `orders.events`.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { Webhook } from 'standardwebhooks';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadTracer, type Tracer } from 'sluice';
import { isTerminal } from '../../src/events.js';
import { startCheckoutStack, type CheckoutStack } from '../helpers/checkout.js';
import { startOtlpReceiver, type OtlpReceiver, type ReceivedSpan } from '../../../../test/helpers/otlp-receiver.js';

let receiver: OtlpReceiver;
let stack: CheckoutStack;
let tracer: Tracer;
const hooks: { verified: boolean; data: { orderId: string; seq: number; type: string } }[] = [];
let hookSecret = '';
const hookServer = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    const raw = Buffer.concat(chunks).toString('utf8');
    let verified = true;
    try {
      new Webhook(hookSecret).verify(raw, Object.fromEntries(Object.entries(req.headers).map(([k, v]) => [k, String(v)])));
    } catch {
      verified = false;
    }
    hooks.push({ verified, data: (JSON.parse(raw) as { data: { orderId: string; seq: number; type: string } }).data });
    res.writeHead(204).end();
  });
});

beforeAll(async () => {
  receiver = await startOtlpReceiver();
  tracer = (await loadTracer({ endpoint: receiver.url, serviceName: 'shop-client' }, 'x'))!;
  await new Promise<void>((r) => hookServer.listen(0, '127.0.0.1', r));
  stack = await startCheckoutStack({
    gateway: {
      tracing: { endpoint: receiver.url, serviceName: 'sluice-gateway' },
      webhooks: { enabled: true, dir: join(receiverDir(), 'webhooks'), allowedHosts: ['127.0.0.1'], allowLoopback: true },
    },
    env: { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url, OTEL_BSP_SCHEDULE_DELAY: '50', SLUICE_ORDER_WEBHOOK_TOPIC: 'orders.events' },
  });
}, 90_000);

afterAll(async () => {
  await stack?.close();
  hookServer.closeAllConnections();
  hookServer.close();
  await tracer?.shutdown();
  await receiver?.close();
});

/** The gateway's webhook log goes in a temp dir of its own. */
let tmp: string | undefined;
function receiverDir(): string {
  tmp ??= mkdtempSync(join(tmpdir(), 'sluice-checkout-hooks-'));
  return tmp;
}

describe('checkout with tracing and webhooks', () => {
  it("delivers an order's events to a subscribed endpoint, signed and in order", async () => {
    const sub = await stack.client.requestResponse<{ secret: string }>('webhooks.subscribe', { topic: 'orders.events', url: `http://127.0.0.1:${(hookServer.address() as AddressInfo).port}/orders` });
    hookSecret = sub.secret;
    const orderId = await stack.place([{ sku: 'B2', qty: 1 }]);
    const events = await stack.events(orderId);
    expect(events.at(-1)?.type).toBe('OrderConfirmed');
    for (let i = 0; i < 1000 && hooks.filter((x) => x.data.orderId === orderId).length < events.length; i++) await new Promise((r) => setTimeout(r, 10));
    const got = hooks.filter((x) => x.data.orderId === orderId);
    expect(got.map((x) => x.data.type)).toEqual(events.map((e) => e.type));
    expect(got.map((x) => x.data.seq)).toEqual([1, 2, 3, 4]);
    expect(got.every((x) => x.verified)).toBe(true);
  }, 60_000);

  it('finds one trace from the client through the gateway, the order, payment and inventory', async () => {
    const root = tracer.start('shop checkout', { kind: 'client' });
    const { orderId } = await stack.client.requestResponse<{ orderId: string }>(
      'checkout.place',
      { idempotencyKey: `trace-${process.pid}`, customerId: 'c-1', items: [{ sku: 'A1', qty: 1 }] },
      { trace: root.context },
    );
    root.end();
    await tracer.flush();
    const events = await stack.events(orderId);
    expect(events.at(-1)?.type).toBe('OrderConfirmed');
    expect(isTerminal(events.at(-1)!)).toBe(true);

    const traceId = root.context.traceparent.split('-')[1]!;
    const find = (spans: readonly ReceivedSpan[], service: string, name: string) => spans.find((s) => s.traceId === traceId && s.service === service && s.name === name);
    const wanted: [string, string][] = [
      ['shop-client', 'shop checkout'],
      ['sluice-gateway', 'checkout.place'],
      ['order', 'checkout.place'],
      ['order', 'saga payment.authorize'],
      ['sluice-gateway', 'payment.authorize'],
      ['payment', 'payment.authorize'],
      ['order', 'saga inventory.reserve'],
      ['sluice-gateway', 'inventory.reserve'],
      ['inventory', 'inventory.reserve'],
    ];
    await receiver.until((spans) => wanted.every(([svc, name]) => find(spans, svc, name)), 30_000);
    const [client, gwPlace, orderPlace, payStep, gwPay, pay, invStep, gwInv, inv] = wanted.map(([svc, name]) => find(receiver.spans, svc, name)!);
    // Each hop is the child of the one before it.
    expect(gwPlace!.parentSpanId).toBe(client!.spanId);
    expect(orderPlace!.parentSpanId).toBe(gwPlace!.spanId);
    expect(payStep!.parentSpanId).toBe(orderPlace!.spanId);
    expect(gwPay!.parentSpanId).toBe(payStep!.spanId);
    expect(pay!.parentSpanId).toBe(gwPay!.spanId);
    expect(invStep!.parentSpanId).toBe(orderPlace!.spanId);
    expect(gwInv!.parentSpanId).toBe(invStep!.spanId);
    expect(inv!.parentSpanId).toBe(gwInv!.spanId);
    expect(gwPay!.attributes).toMatchObject({ 'sluice.route': 'payment.authorize', 'sluice.service': 'payment', 'sluice.instance': 'payment-1' });
    expect(orderPlace!.attributes).toMatchObject({ 'sluice.service': 'order', 'sluice.instance': 'order-1' });
  }, 90_000);
});

afterAll(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

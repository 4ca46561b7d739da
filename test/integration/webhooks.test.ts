/**
 * Signed webhooks through a real gateway to a real HTTP server: signatures
 * verified with the `standardwebhooks` package, retries after failed
 * attempts with the same webhook-id, order per key, bounded concurrency per
 * endpoint, deliveries surviving a gateway restart, publishes made
 * idempotent by an event id, dead after the last attempt, and every refusal (grants, hosts, addresses, bad input).
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { firstValueFrom, toArray } from 'rxjs';
import { Webhook } from 'standardwebhooks';
import type { GatewayOptions } from '../../src/config.js';
import { metricsText, metricValue, useHarness } from '../helpers/harness.js';
import { mint, secretFile } from '../helpers/auth.js';
import { WebhookLog } from '../../src/webhooks/webhook-log.js';
import { eventDeliveryId } from '../../src/webhooks/dispatcher.js';

const h = useHarness();

interface Received {
  id: string;
  body: { type: string; timestamp: string; data: { key: string; n: number } };
  verified: boolean;
  status: number;
}

/** A receiver whose `answer` decides each attempt's status (or holds it: return a promise). */
async function receiver(secret: () => string, answer: (id: string, attempt: number, data: Received['body']['data']) => number | Promise<number>) {
  const attempts = new Map<string, number>();
  const got: Received[] = [];
  let inFlight = 0;
  let maxInFlight = 0;
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      const raw = Buffer.concat(chunks).toString('utf8');
      const headers = Object.fromEntries(Object.entries(req.headers).map(([k, v]) => [k, String(v)]));
      let verified = false;
      try {
        new Webhook(secret()).verify(raw, headers);
        verified = true;
      } catch {
        verified = false;
      }
      const id = headers['webhook-id']!;
      const n = (attempts.get(id) ?? 0) + 1;
      attempts.set(id, n);
      const body = JSON.parse(raw) as Received['body'];
      void Promise.resolve(answer(id, n, body.data)).then((status) => {
        got.push({ id, body, verified, status });
        inFlight--;
        res.writeHead(status).end();
      });
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  h.onCleanup(
    () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  );
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks`, got, attempts, maxInFlight: () => maxInFlight };
}

async function dataDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'sluice-webhooks-'));
  h.onCleanup(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

const fast = (dir: string, extra: Partial<NonNullable<GatewayOptions['webhooks']>> = {}): GatewayOptions['webhooks'] => ({
  enabled: true,
  dir,
  allowedHosts: ['127.0.0.1'],
  allowLoopback: true,
  initialDelayMs: 5,
  maxDelayMs: 20,
  ...extra,
});

/** The webhooks group and a dead-letter queue of the test's own (dead deliveries go there). */
const hooks = (dir: string, extra: Partial<NonNullable<GatewayOptions['webhooks']>> = {}): GatewayOptions => ({ webhooks: fast(dir, extra), deadLetter: { dir: join(dir, 'dlq') } });

async function until(what: string, done: () => boolean): Promise<void> {
  for (let i = 0; i < 1000 && !done(); i++) await new Promise((r) => setTimeout(r, 10));
  if (!done()) throw new Error(`timed out waiting for ${what}`);
}

describe('webhooks', () => {
  it('delivers signed events, retrying failed attempts with the same webhook-id, in order per key', async () => {
    let secret = '';
    // Even-numbered events fail their first two attempts: retries interleave with later events of other keys.
    const hook = await receiver(() => secret, (_id, attempt, data) => (data.n % 2 === 0 && attempt <= 2 ? 503 : 200));
    const gw = await h.gateway(hooks(await dataDir(), { concurrencyPerEndpoint: 4 }));
    const client = await h.client(gw.url);
    const sub = await client.requestResponse<{ id: string; secret: string; url: string }>('webhooks.subscribe', { topic: 'orders.events', url: hook.url });
    secret = sub.secret;
    expect(sub.secret).toMatch(/^whsec_/);
    for (let n = 0; n < 6; n++) {
      for (const key of ['ord_a', 'ord_b']) await expect(client.requestResponse('webhooks.publish', { topic: 'orders.events', key, event: { key, n } })).resolves.toEqual({ deliveries: 1, duplicates: 0 });
    }
    await until('12 deliveries', () => hook.got.filter((g) => g.status === 200).length === 12);
    expect(hook.got.every((g) => g.verified)).toBe(true);
    for (const key of ['ord_a', 'ord_b']) {
      const delivered = hook.got.filter((g) => g.status === 200 && g.body.data.key === key).map((g) => g.body.data.n);
      expect(delivered).toEqual([0, 1, 2, 3, 4, 5]);
      // Each event of a key is attempted only after the one before it was delivered.
      const attemptsInOrder = hook.got.filter((g) => g.body.data.key === key).map((g) => g.body.data.n);
      expect(attemptsInOrder).toEqual([0, 0, 0, 1, 2, 2, 2, 3, 4, 4, 4, 5]);
    }
    // A retry carries the same id (a receiver deduplicates on it).
    const evenIds = new Set(hook.got.filter((g) => g.body.data.n === 0).map((g) => g.id));
    expect(evenIds.size).toBe(2);
    expect(hook.got[0]!.body.type).toBe('orders.events');
    // The last outcome is recorded after the endpoint answered.
    await until('nothing pending', () => gw.webhooks!.pendingCount === 0);
    const text = await metricsText(gw);
    expect(metricValue(text, 'sluice_webhook_attempts_total', { result: 'delivered' })).toBe(12);
    expect(metricValue(text, 'sluice_webhook_attempts_total', { result: 'failed' })).toBe(12);
    expect(metricValue(text, 'sluice_webhook_pending')).toBe(0);
  });

  it('holds at most concurrencyPerEndpoint requests in flight per endpoint', async () => {
    const release: (() => void)[] = [];
    const hook = await receiver(() => 'whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA', () => new Promise<number>((r) => release.push(() => r(200))));
    const gw = await h.gateway(hooks(await dataDir(), { concurrencyPerEndpoint: 2 }));
    const client = await h.client(gw.url);
    await client.requestResponse('webhooks.subscribe', { topic: 't.x', url: hook.url });
    for (let n = 0; n < 6; n++) await client.requestResponse('webhooks.publish', { topic: 't.x', key: `k${n}`, event: { key: `k${n}`, n } });
    await until('two held', () => release.length === 2);
    // Distinct keys, yet no third request while two are unanswered.
    await client.requestResponse('webhooks.list', {});
    expect(release.length).toBe(2);
    while (hook.got.length < 6) {
      await until('a held request', () => release.length > 0);
      release.shift()!();
      await until('answered', () => hook.got.length > 0);
      await new Promise((r) => setImmediate(r));
    }
    expect(hook.maxInFlight()).toBe(2);
  });

  it('keeps pending deliveries across a gateway restart, then delivers them', async () => {
    const dir = await dataDir();
    let up = false;
    let secret = '';
    const hook = await receiver(() => secret, () => (up ? 200 : 500));
    const gw1 = await h.gateway(hooks(dir));
    const c1 = await h.client(gw1.url);
    secret = (await c1.requestResponse<{ secret: string }>('webhooks.subscribe', { topic: 'orders.events', url: hook.url })).secret;
    for (let n = 0; n < 3; n++) await c1.requestResponse('webhooks.publish', { topic: 'orders.events', key: 'ord_r', event: { key: 'ord_r', n } });
    await until('two failed attempts', () => hook.got.length >= 2);
    const failedId = hook.got[0]!.id;
    c1.close();
    await gw1.close();
    // What the stopped gateway left on disk: all three pending, the first with its failed attempts counted.
    const log = await WebhookLog.open({ dir, maxPending: 10, maxBytes: 1 << 20, maxDead: 10 });
    const pending = [...log.pending.values()];
    await log.close();
    expect(pending.map((d) => JSON.parse(d.body).data.n)).toEqual([0, 1, 2]);
    expect(pending[0]!.id).toBe(failedId);
    expect(pending[0]!.attempts).toBeGreaterThanOrEqual(1);
    up = true;
    const gw2 = await h.gateway(hooks(dir));
    await until('3 delivered', () => hook.got.filter((g) => g.status === 200).length === 3);
    const ok = hook.got.filter((g) => g.status === 200);
    expect(ok.map((g) => g.body.data.n)).toEqual([0, 1, 2]);
    expect(ok[0]!.id).toBe(failedId);
    expect(ok.every((g) => g.verified)).toBe(true);
    await until('nothing pending', () => gw2.webhooks!.pendingCount === 0);
  });

  it('a publish naming an event id is idempotent: pending, delivered and restarted, the event reaches the endpoint once, under one webhook-id', async () => {
    const dir = await dataDir();
    let up = false;
    let secret = '';
    const hook = await receiver(() => secret, () => (up ? 200 : 503));
    const gw1 = await h.gateway(hooks(dir));
    const c1 = await h.client(gw1.url);
    const sub = await c1.requestResponse<{ id: string; secret: string }>('webhooks.subscribe', { topic: 'orders.events', url: hook.url });
    secret = sub.secret;
    const publish = (c: typeof c1, n: number) => c.requestResponse<{ deliveries: number; duplicates: number }>('webhooks.publish', { topic: 'orders.events', key: 'ord_i', event: { key: 'ord_i', n }, id: `ord_i:${n}` });
    expect(await publish(c1, 1)).toEqual({ deliveries: 1, duplicates: 0 });
    // Pending (its first attempt refused): a second publish of the same event is a duplicate.
    await until('a refused attempt', () => hook.got.length >= 1);
    expect(await publish(c1, 1)).toEqual({ deliveries: 0, duplicates: 1 });
    // Still pending after a restart, read back from the log: a duplicate there too.
    c1.close();
    await gw1.close();
    const gw2 = await h.gateway(hooks(dir));
    const c2 = await h.client(gw2.url);
    expect(await publish(c2, 1)).toEqual({ deliveries: 0, duplicates: 1 });
    up = true;
    await until('delivered', () => hook.got.some((g) => g.status === 200));
    await until('nothing pending', () => gw2.webhooks!.pendingCount === 0);
    // Delivered lately: a duplicate still; another event of the same key is not.
    expect(await publish(c2, 1)).toEqual({ deliveries: 0, duplicates: 1 });
    expect(await publish(c2, 2)).toEqual({ deliveries: 1, duplicates: 0 });
    await until('the second event delivered', () => hook.got.filter((g) => g.status === 200).length === 2);
    const ok = hook.got.filter((g) => g.status === 200);
    expect(ok.map((g) => g.body.data.n)).toEqual([1, 2]);
    expect(ok.every((g) => g.verified)).toBe(true);
    // Every attempt of event 1 carried the id derived from the subscription and the event id.
    expect(new Set(hook.got.filter((g) => g.body.data.n === 1).map((g) => g.id))).toEqual(new Set([eventDeliveryId(sub.id, 'ord_i:1')]));
    await expect(c2.requestResponse('webhooks.publish', { topic: 'orders.events', key: 'k', event: {}, id: 'no spaces' })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
  });

  it('gives up after maxAttempts and keeps the delivery as dead; later events of the key go on', async () => {
    const hook = await receiver(() => 'whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA', (_id, _a, data) => (data.n === 0 ? 500 : 200));
    const gw = await h.gateway(hooks(await dataDir(), { maxAttempts: 3 }));
    const client = await h.client(gw.url);
    const sub = await client.requestResponse<{ id: string }>('webhooks.subscribe', { topic: 'orders.events', url: hook.url });
    await client.requestResponse('webhooks.publish', { topic: 'orders.events', key: 'ord_d', event: { key: 'ord_d', n: 0 } });
    await client.requestResponse('webhooks.publish', { topic: 'orders.events', key: 'ord_d', event: { key: 'ord_d', n: 1 } });
    await until('the second delivered', () => hook.got.some((g) => g.body.data.n === 1 && g.status === 200));
    await until('nothing pending', () => gw.webhooks!.pendingCount === 0);
    expect(hook.got.filter((g) => g.body.data.n === 0).length).toBe(3);
    const { subscriptions } = await client.requestResponse<{ subscriptions: { id: string; pending: number; dead: number }[] }>('webhooks.list', {});
    expect(subscriptions).toEqual([expect.objectContaining({ id: sub.id, pending: 0, dead: 1 })]);
    expect(gw.webhooks!.deadOf(sub.id)[0]).toMatchObject({ attempts: 3, lastError: 'HTTP 500', state: 'dead' });
    expect(metricValue(await metricsText(gw), 'sluice_webhook_attempts_total', { result: 'dead' })).toBe(1);
  });

  it('dead-letters a delivery that used its last attempt in the one dead-letter queue, counted, listed and replayed', async () => {
    let up = false;
    let secret = '';
    const hook = await receiver(() => secret, () => (up ? 200 : 500));
    const gw = await h.gateway(hooks(await dataDir(), { maxAttempts: 2 }));
    const client = await h.client(gw.url);
    const sub = await client.requestResponse<{ id: string; secret: string }>('webhooks.subscribe', { topic: 'orders.events', url: hook.url });
    secret = sub.secret;
    await client.requestResponse('webhooks.publish', { topic: 'orders.events', key: 'ord_dl', event: { key: 'ord_dl', n: 7 } });
    await until('a dead letter', () => gw.deadLetters!.pending() === 1);
    const webhookId = hook.got[0]!.id;
    expect(hook.got.map((g) => g.id)).toEqual([webhookId, webhookId]);

    type Listed = { id: string; route: string; model: string; attempts: number; error: { code: string; message: string }; data: Record<string, unknown> };
    const list = () => firstValueFrom(client.requestStream<Listed>('dlq.list', {}).pipe(toArray()));
    const [entry] = await list();
    expect(entry).toMatchObject({ route: 'webhooks.delivery', model: 'fnf', attempts: 2, error: { code: 'UNAVAILABLE' } });
    expect(entry!.error.message).toContain('HTTP 500');
    expect(entry!.data).toMatchObject({ subscription: sub.id, topic: 'orders.events', delivery: webhookId, key: 'ord_dl' });
    expect(JSON.stringify(entry)).not.toContain(sub.secret);
    expect(metricValue(await metricsText(gw), 'sluice_dead_lettered_total', { route: 'webhooks.delivery' })).toBe(1);

    // Replayed while the endpoint still fails: queued again, dies again, and lands in the queue again (never lost).
    await expect(client.requestResponse('dlq.replay', { id: entry!.id })).resolves.toMatchObject({ replayed: 1, failed: 0 });
    await until('a second dead letter', () => gw.deadLetters!.pending() === 1 && hook.got.length === 4);
    const [again] = await list();
    expect(again!.id).not.toBe(entry!.id);
    expect(again!.data).toMatchObject({ delivery: webhookId });
    expect(metricValue(await metricsText(gw), 'sluice_dead_lettered_total', { route: 'webhooks.delivery' })).toBe(2);

    // The endpoint is back: the replay delivers the same event, with the same webhook-id, signed.
    up = true;
    await expect(client.requestResponse('dlq.replay', { id: again!.id })).resolves.toMatchObject({ replayed: 1 });
    await until('delivered', () => hook.got.some((g) => g.status === 200));
    const ok = hook.got.find((g) => g.status === 200)!;
    expect(ok).toMatchObject({ id: webhookId, verified: true, body: { data: { key: 'ord_dl', n: 7 } } });
    await until('nothing pending', () => gw.webhooks!.pendingCount === 0);
    expect(await list()).toEqual([]);
    const { subscriptions } = await client.requestResponse<{ subscriptions: { pending: number; dead: number }[] }>('webhooks.list', {});
    expect(subscriptions).toEqual([expect.objectContaining({ pending: 0, dead: 0 })]);
  });

  it('a replay of a delivery whose subscription is gone fails and stays in the queue', async () => {
    const hook = await receiver(() => 'whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA', () => 500);
    const gw = await h.gateway(hooks(await dataDir(), { maxAttempts: 1 }));
    const client = await h.client(gw.url);
    const sub = await client.requestResponse<{ id: string }>('webhooks.subscribe', { topic: 'orders.events', url: hook.url });
    await client.requestResponse('webhooks.publish', { topic: 'orders.events', key: 'k', event: { key: 'k', n: 1 } });
    await until('a dead letter', () => gw.deadLetters!.pending() === 1);
    await client.requestResponse('webhooks.unsubscribe', { id: sub.id });
    const [entry] = await gw.deadLetters!.store.list({ state: 'pending' });
    const result = await client.requestResponse<{ failed: number; results: { state: string; error: { code: string; message: string } }[] }>('dlq.replay', { id: entry!.id });
    expect(result.failed).toBe(1);
    expect(result.results[0]).toMatchObject({ state: 'pending', error: { code: 'INVALID_ARGUMENT' } });
    expect(result.results[0]!.error.message).toContain('no longer exists');
    expect(gw.deadLetters!.pending()).toBe(1);
  });

  it('refuses what the grant, the host policy or the input does not allow', async () => {
    const dir = await dataDir();
    const gw = await h.gateway({
      auth: { secretFile: await secretFile(h) },
      webhooks: { enabled: true, dir, allowedHosts: ['127.0.0.1', 'hooks.example.com', '169.254.169.254'] },
      deadLetter: { dir: join(dir, 'dlq') },
    });
    const shop = await h.client(gw.url, { token: await mint('shop', { call: ['webhooks.*', 'orders.events'] }) });
    const nosy = await h.client(gw.url, { token: await mint('nosy', { call: ['webhooks.subscribe', 'webhooks.unsubscribe'] }) });
    const order = await h.client(gw.url, { token: await mint('order', { call: ['webhooks.publish'], service: 'order', register: ['orders.*'] }) });
    const stranger = await h.client(gw.url, { token: await mint('stranger', { call: ['orders.*'] }) });
    const sub = (data: unknown, c = shop) => c.requestResponse('webhooks.subscribe', data);
    // The route itself needs a grant.
    await expect(stranger.requestResponse('webhooks.subscribe', { topic: 'orders.events', url: 'https://hooks.example.com/x' })).rejects.toMatchObject({ code: 'PERMISSION_DENIED' });
    // The topic must be granted to the subscriber.
    await expect(sub({ topic: 'orders.events', url: 'https://hooks.example.com/x' }, nosy)).rejects.toMatchObject({ code: 'PERMISSION_DENIED', message: expect.stringContaining("topic 'orders.events' is not granted to sub:nosy") });
    // Hosts: not listed, loopback without allowLoopback, link-local (cloud metadata) without allowPrivate.
    await expect(sub({ topic: 'orders.events', url: 'https://evil.example.net/x' })).rejects.toMatchObject({ code: 'PERMISSION_DENIED', message: "webhook host 'evil.example.net' is not in webhooks.allowedHosts" });
    await expect(sub({ topic: 'orders.events', url: 'http://127.0.0.1:7879/metrics' })).rejects.toMatchObject({ code: 'PERMISSION_DENIED', message: expect.stringContaining('loopback') });
    await expect(sub({ topic: 'orders.events', url: 'http://169.254.169.254/latest/meta-data' })).rejects.toMatchObject({ code: 'PERMISSION_DENIED', message: expect.stringContaining('private, link-local') });
    // Bad input.
    await expect(sub({ topic: 'orders.events', url: 'ftp://hooks.example.com/x' })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', message: "'url' must be http or https, got ftp" });
    await expect(sub({ topic: 'orders.events', url: 'https://u:p@hooks.example.com/x' })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(sub({ topic: 'orders.*', url: 'https://hooks.example.com/x' })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(sub({ topic: 'orders.events', url: 'https://hooks.example.com/x', extra: 1 })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', message: "unknown field 'extra'; known: url, topic, secret" });
    await expect(sub({ topic: 'orders.events', url: 'https://hooks.example.com/x', secret: 'whsec_short' })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    // Publishing needs the topic granted for registration.
    await expect(shop.requestResponse('webhooks.publish', { topic: 'orders.events', key: 'k', event: {} })).rejects.toMatchObject({ code: 'PERMISSION_DENIED' });
    await expect(order.requestResponse('webhooks.publish', { topic: 'orders.events', key: 'k', event: {} })).resolves.toEqual({ deliveries: 0, duplicates: 0 });
    // Only the owner (or an admin) unsubscribes.
    const mine = await sub({ topic: 'orders.events', url: 'https://hooks.example.com/x' }) as { id: string };
    await expect(nosy.requestResponse('webhooks.unsubscribe', { id: mine.id })).rejects.toMatchObject({ code: 'PERMISSION_DENIED' });
    await expect(shop.requestResponse<{ subscriptions: unknown[] }>('webhooks.list', {})).resolves.toMatchObject({ subscriptions: [expect.not.objectContaining({ secret: expect.anything() })] });
    await expect(shop.requestResponse('webhooks.unsubscribe', { id: mine.id })).resolves.toEqual({ unsubscribed: mine.id });
    // Over the HTTP bridge the same checks hold: the caller's own grant, not the bridge's.
    const post = async (token: string, body: unknown) =>
      fetch(`${gw.url.replace(/^ws/, 'http')}/v1/routes/webhooks.subscribe`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
    const refused = await post(await mint('nosy', { call: ['webhooks.subscribe'] }), { topic: 'orders.events', url: 'https://hooks.example.com/x' });
    expect(refused.status).toBe(403);
    expect(((await refused.json()) as { detail: string }).detail).toContain("topic 'orders.events' is not granted to sub:nosy");
    const accepted = await post(await mint('shop', { call: ['webhooks.*', 'orders.events'] }), { topic: 'orders.events', url: 'https://hooks.example.com/y' });
    expect(accepted.status).toBe(200);
    expect(((await accepted.json()) as { secret: string }).secret).toMatch(/^whsec_/);
  });

  it('serves no webhooks routes unless enabled', async () => {
    const gw = await h.gateway();
    const client = await h.client(gw.url);
    await expect(client.requestResponse('webhooks.subscribe', { topic: 't', url: 'https://x' })).rejects.toMatchObject({ code: 'NO_ROUTE' });
    expect(gw.webhooks).toBeUndefined();
  });
});

/**
 * The dead-letter queue shared by a fleet in NATS JetStream, with a real
 * nats-server and two gateways on real sockets: a dead letter made on one
 * gateway is listed and replayed on the other, exactly once even when both
 * replay at the same time; the queue's bound refuses new letters and counts
 * them; claims are compare-and-set in JetStream itself.
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { SluiceError } from '../../src/errors.js';
import type { Client } from '../../clients/node/index.js';
import type { Gateway } from '../../src/gateway.js';
import { JetStreamDeadLetters } from '../../src/deadletter/jetstream-store.js';
import { createLogger } from '../../src/observability/logger.js';
import { metricValue, metricsText, useHarness } from '../helpers/harness.js';
import { requireNatsServer, startNatsServer, type NatsCluster } from '../helpers/nats-cluster.js';

const h = useHarness();
const nats = requireNatsServer();

/** One service's routes, shared by its instance on each gateway: counts every call by the refund number it carries. */
function refunds() {
  const state = { fail: true, calls: new Map<number, number>() };
  const routes = {
    'pay.refund': {
      idempotent: true,
      requestResponse: ({ n }: { n: number }) => {
        if (state.fail) throw new SluiceError('UNAVAILABLE', 'bank down');
        state.calls.set(n, (state.calls.get(n) ?? 0) + 1);
        return { ok: n };
      },
    },
  };
  return { state, routes };
}

const policy = { 'pay.refund': { deadLetter: true, retry: { maxAttempts: 1 }, breaker: { enabled: false } } };

async function fleetOf(server: NatsCluster, deadLetter: { maxEntries?: number } = {}) {
  // A prefix of its own per test: the streams of one test never meet another's.
  const streamPrefix = `T${randomBytes(4).toString('hex')}`;
  const options = { nats: { servers: server.servers, streamPrefix }, policies: { defaults: {}, routes: policy }, ...(deadLetter.maxEntries ? { deadLetter: { maxEntries: deadLetter.maxEntries } } : {}) };
  const a = await h.gateway(options);
  const b = await h.gateway(options);
  const svc = refunds();
  await h.service({ url: a.url, service: 'pay', routes: svc.routes });
  await h.service({ url: b.url, service: 'pay', routes: svc.routes });
  return { a, b, svc, streamPrefix, ca: await h.client(a.url), cb: await h.client(b.url) };
}

function list(c: Client, filter: Record<string, unknown> = {}): Promise<Array<{ id: string; route: string; data: { n: number }; state: string; replays: number; error: { code: string } }>> {
  const out: Array<{ id: string; route: string; data: { n: number }; state: string; replays: number; error: { code: string } }> = [];
  return new Promise((resolve, reject) => c.requestStream<(typeof out)[0]>('dlq.list', filter).subscribe({ next: (e) => out.push(e), error: reject, complete: () => resolve(out) }));
}

async function deadLetter(c: Client, n: number): Promise<string> {
  const err = (await c.requestResponse('pay.refund', { n }).catch((e: unknown) => e)) as SluiceError;
  expect(err.code).toBe('UNAVAILABLE');
  return /dead-lettered as (dl-\d+)/.exec(err.message)![1]!;
}

/** The pending entries once there are any (a durable command is dead-lettered after its deliveries, not at once). */
async function eventuallyListed(c: Client): Promise<Awaited<ReturnType<typeof list>>> {
  let found: Awaited<ReturnType<typeof list>> = [];
  await expect.poll(async () => (found = await list(c)).length, { timeout: 10_000 }).toBeGreaterThan(0);
  return found;
}

async function refused(gw: Gateway): Promise<number | undefined> {
  return metricValue(await metricsText(gw), 'sluice_dead_letter_events_total', { event: 'refused' });
}

describe.skipIf(!nats)(`dead-letter queue shared in NATS JetStream${nats ? '' : ' (skipped: nats-server not installed)'}`, () => {
  it('a dead letter made on gateway A is listed on B, replayed from B once, and gone on both', async () => {
    const server = await startNatsServer();
    h.onCleanup(() => server.stop());
    const { svc, ca, cb, a, b } = await fleetOf(server);
    const id = await deadLetter(ca, 1);

    const atB = await list(cb);
    expect(atB.map((e) => [e.id, e.route, e.data, e.state, e.error.code])).toEqual([[id, 'pay.refund', { n: 1 }, 'pending', 'UNAVAILABLE']]);
    await expect.poll(async () => metricValue(await metricsText(b), 'sluice_dead_letters_pending'), { timeout: 5_000 }).toBe(1);

    // A replay that fails again keeps the entry, with its count, for every gateway.
    const again = await cb.requestResponse<{ replayed: number; failed: number }>('dlq.replay', { id });
    expect(again).toMatchObject({ replayed: 0, failed: 1 });
    expect((await list(ca)).map((e) => [e.id, e.replays, e.state])).toEqual([[id, 1, 'pending']]);

    svc.state.fail = false;
    const done = await cb.requestResponse<{ replayed: number; failed: number; skipped: number }>('dlq.replay', { id });
    expect(done).toMatchObject({ replayed: 1, failed: 0, skipped: 0 });
    expect([...svc.state.calls]).toEqual([[1, 1]]);
    expect(await list(ca)).toEqual([]);
    expect(await list(cb)).toEqual([]);
    expect(await ca.requestResponse('dlq.replay', { all: true })).toMatchObject({ replayed: 0 });
    await expect(ca.requestResponse('dlq.replay', { id })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    expect([...svc.state.calls]).toEqual([[1, 1]]);
    await expect.poll(async () => metricValue(await metricsText(a), 'sluice_dead_letters_pending'), { timeout: 5_000 }).toBe(0);
  });

  it('A and B replaying the whole queue at the same time send each entry once', async () => {
    const server = await startNatsServer();
    h.onCleanup(() => server.stop());
    const { svc, ca, cb } = await fleetOf(server);
    const N = 30;
    for (let n = 0; n < N; n++) await deadLetter(n % 2 ? ca : cb, n);
    expect(await list(ca, { limit: 10_000 })).toHaveLength(N);

    svc.state.fail = false;
    type Summary = { replayed: number; failed: number; skipped: number };
    const [ra, rb] = await Promise.all([ca.requestResponse<Summary>('dlq.replay', { all: true }), cb.requestResponse<Summary>('dlq.replay', { all: true })]);
    expect(ra.replayed + rb.replayed).toBe(N);
    expect(ra.failed + rb.failed).toBe(0);
    expect(svc.state.calls.size).toBe(N);
    expect([...svc.state.calls.values()].every((c) => c === 1)).toBe(true);
    expect(await list(cb)).toEqual([]);
  });

  it('at maxEntries a new dead letter is refused (the requester is told, the refusal counted); the stored ones stay; list pages with after', async () => {
    const server = await startNatsServer();
    h.onCleanup(() => server.stop());
    const { ca, cb, a } = await fleetOf(server, { maxEntries: 3 });
    const ids = [await deadLetter(ca, 1), await deadLetter(cb, 2), await deadLetter(ca, 3)];
    const over = (await ca.requestResponse('pay.refund', { n: 4 }).catch((e: unknown) => e)) as SluiceError;
    expect(over.code).toBe('UNAVAILABLE');
    expect(over.message).toMatch(/not dead-lettered: dead-letter queue full/);
    expect(await refused(a)).toBe(1);
    expect((await list(cb)).map((e) => e.id)).toEqual(ids);
    expect((await list(cb, { limit: 2 })).map((e) => e.id)).toEqual(ids.slice(0, 2));
    expect((await list(cb, { after: ids[1], limit: 2 })).map((e) => e.id)).toEqual([ids[2]]);
    await expect(list(cb, { after: 'x' })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
  });

  it('a durable command dead-lettered after maxDeliveries on A is replayed from B, through the shared durable queue, once', async () => {
    const server = await startNatsServer();
    h.onCleanup(() => server.stop());
    const streamPrefix = `T${randomBytes(4).toString('hex')}`;
    const policies = { defaults: {}, routes: { 'jobs.run': { durable: { enabled: true, delivery: 'response' as const, maxDeliveries: 2, backoffInitialMs: 10, backoffMaxMs: 20 } } } };
    const a = await h.gateway({ nats: { servers: server.servers, streamPrefix }, policies });
    const b = await h.gateway({ nats: { servers: server.servers, streamPrefix }, policies });
    const state = { fail: true, done: [] as number[] };
    // The only instance is on A: B accepts the replayed command into the shared queue and A delivers it.
    await h.service({
      url: a.url,
      service: 'jobs',
      routes: {
        'jobs.run': {
          requestResponse: ({ n }: { n: number }) => {
            if (state.fail) throw new SluiceError('INTERNAL', 'cannot yet');
            state.done.push(n);
            return { n };
          },
        },
      },
    });
    await (await h.client(a.url)).requestResponse('jobs.run', { n: 7 });
    const cb = await h.client(b.url);
    const listed = await eventuallyListed(cb);
    expect(listed).toMatchObject([{ route: 'jobs.run', data: { n: 7 }, attempts: 2, error: { code: 'INTERNAL' } }]);
    state.fail = false;
    expect(await cb.requestResponse('dlq.replay', { all: true })).toMatchObject({ replayed: 1, failed: 0 });
    await expect.poll(() => state.done, { timeout: 10_000 }).toEqual([7]);
    expect(await list(cb)).toEqual([]);
  });

  it('claims are compare-and-set in JetStream: of two stores claiming the same entry at once, one wins; a stale claim is taken over', async () => {
    const server = await startNatsServer();
    h.onCleanup(() => server.stop());
    const log = createLogger({ level: 'silent' });
    const options = { servers: server.servers, credentials: {}, replicas: 1, streamPrefix: `T${randomBytes(4).toString('hex')}`, maxEntries: 100, maxBytes: 1024 * 1024, maxAgeMs: 3_600_000 };
    const s1 = await JetStreamDeadLetters.open(options, log);
    h.onCleanup(() => s1.close());
    const s2 = await JetStreamDeadLetters.open(options, log);
    h.onCleanup(() => s2.close());
    // A store that takes every claim over at once (claimTtlMs 0), as any store does after CLAIM_TTL_MS.
    const s3 = await JetStreamDeadLetters.open({ ...options, claimTtlMs: 0 }, log);
    h.onCleanup(() => s3.close());
    const letter = (n: number) => ({ route: 'pay.refund', model: 'response' as const, data: Buffer.from(`{"n":${n}}`).toString('base64'), metadata: '', error: { code: 'UNAVAILABLE', message: 'down' }, attempts: 1, firstFailedAt: Date.now() });

    for (let n = 0; n < 10; n++) {
      const { id } = await s1.add(letter(n));
      const [c1, c2] = await Promise.all([s1.claim(id), new Promise<void>((r) => setImmediate(r)).then(() => s2.claim(id))]);
      expect([c1.ok, c2.ok].filter(Boolean)).toHaveLength(1);
      await (c1.ok ? s1 : s2).settle(id, true);
      await expect(s1.claim(id)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    }
    // The same failed request stored twice within the window is one entry.
    const first = await s1.add(letter(100));
    expect((await s2.add(letter(100))).id).toBe(first.id);
    // A claim s1 made and never settled (its gateway died) blocks s2 while fresh, not for good.
    expect((await s1.claim(first.id)).ok).toBe(true);
    expect(await s2.claim(first.id)).toMatchObject({ ok: false, reason: expect.stringMatching(/being replayed by/) });
    expect((await s3.claim(first.id)).ok).toBe(true);
    await s3.settle(first.id, true);
    expect(await s1.get(first.id)).toBeUndefined();
    expect(s3.counters).toMatchObject({ replayed: 1 });
  });
});

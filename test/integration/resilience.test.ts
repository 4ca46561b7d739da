/**
 * Per-route resilience policies at the gateway, over real sockets: deadlines,
 * retries within a budget, circuit breakers with fallback, bulkheads, rate
 * limits and the dead-letter queue.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SluiceError } from '../../src/errors.js';
import { ConfigError } from '../../src/config-error.js';
import { createGateway } from '../../src/gateway.js';
import { deadlineEntry, DEADLINE_MIME } from '../../src/resilience/deadline.js';
import { MimeTypes, decodeComposite } from '../../src/protocol/metadata.js';
import { registrationEntry } from '../../src/protocol/registration.js';
import { establish } from '../../src/client/connector.js';
import { nodeTransport } from '../../src/transport/client-transport.js';
import type { RoutePolicyInput } from '../../src/policy/policy-config.js';
import { eventually, metricValue, metricsText, useHarness } from '../helpers/harness.js';

const h = useHarness();

/** A service whose routes fail or answer as the test says, counting every call that reaches it. */
function controllable() {
  const state = { mode: 'ok' as 'ok' | 'fail' | 'poison', calls: 0, slowCalls: 0 };
  const routes = {
    'ctl.op': {
      idempotent: true,
      requestResponse: (data: unknown) => {
        state.calls++;
        if (state.mode === 'fail') throw new SluiceError('UNAVAILABLE', 'dependency down');
        if (state.mode === 'poison') throw new SluiceError('POISON_MESSAGE', 'cannot parse this command, ever');
        return { ok: true, data };
      },
    },
    'ctl.fallback': { requestResponse: () => ({ from: 'fallback' }) },
    'ctl.slow': {
      requestResponse: (_d: unknown, ctx: { signal: AbortSignal }) =>
        new Promise((resolve) => {
          state.slowCalls++;
          const t = setTimeout(() => resolve('slow done'), 300);
          ctx.signal.addEventListener('abort', () => clearTimeout(t));
        }),
    },
    'ctl.fast': { requestResponse: () => 'fast' },
  };
  return { state, routes };
}

async function gatewayWith(routes: Record<string, RoutePolicyInput>, extra: Parameters<typeof h.gateway>[0] = {}) {
  return h.gateway({ ...extra, policies: { defaults: {}, routes } });
}

describe('deadlines', () => {
  it('expiry answers DEADLINE_EXCEEDED and cancels the upstream stream at the service', async () => {
    const gw = await h.gateway();
    // A bare RSocket service, so the test sees the CANCEL frame itself.
    let cancelled!: () => void;
    const sawCancel = new Promise<void>((r) => (cancelled = r));
    let deadlineSeen: number | undefined;
    const service = await establish(nodeTransport, {
      url: gw.url,
      setupMetadata: [registrationEntry({ service: 'raw', instance: 'raw-1', routes: ['raw.never'] })],
      responder: {
        fireAndForget() {},
        requestResponse: (_p, s) => (s.error(new SluiceError('INTERNAL', 'unused')), s.handler),
        requestChannel: (_p, _c, s) => (s.error(new SluiceError('INTERNAL', 'unused')), s.handler),
        requestStream: (p) => {
          const entry = p.metadata ? decodeComposite(p.metadata).find((e) => e.mimeType === DEADLINE_MIME) : undefined;
          deadlineSeen = entry ? new DataView(entry.content.buffer, entry.content.byteOffset).getUint32(0) : undefined;
          return { onNext() {}, onComplete() {}, onError() {}, onRequest() {}, onCancel: () => cancelled() };
        },
      },
    });
    h.onCleanup(() => service.close());
    const client = await h.client(gw.url);
    const err = await new Promise<unknown>((resolve) =>
      client.requestStream('raw.never', {}, { metadata: [deadlineEntry(200)] }).subscribe({ error: resolve, complete: () => resolve(undefined) }),
    );
    expect((err as SluiceError).code).toBe('DEADLINE_EXCEEDED');
    expect((err as SluiceError).message).toBe("deadline of 200 ms exceeded on route 'raw.never'");
    await sawCancel;
    // The service was told how long it had: at most the requester's deadline.
    expect(deadlineSeen).toBeGreaterThan(0);
    expect(deadlineSeen).toBeLessThanOrEqual(200);
  });

  it('a route default deadline applies when the requester sends none, and the shorter one wins', async () => {
    const { routes } = controllable();
    const gw = await gatewayWith({ 'ctl.slow': { deadlineMs: 100 } });
    await h.service({ url: gw.url, service: 'ctl', routes });
    const client = await h.client(gw.url);
    await expect(client.requestResponse('ctl.slow', {})).rejects.toMatchObject({ code: 'DEADLINE_EXCEEDED', message: "deadline of 100 ms exceeded on route 'ctl.slow'" });
    await expect(client.requestResponse('ctl.slow', {}, { metadata: [deadlineEntry(50)] })).rejects.toMatchObject({ message: "deadline of 50 ms exceeded on route 'ctl.slow'" });
    expect(metricValue(await metricsText(gw), 'sluice_deadline_exceeded_total', { route: 'ctl.slow' })).toBe(2);
  });

  it('a malformed deadline entry gets INVALID_ARGUMENT', async () => {
    const { routes } = controllable();
    const gw = await h.gateway();
    await h.service({ url: gw.url, service: 'ctl', routes });
    const client = await h.client(gw.url);
    const bad = { mimeType: DEADLINE_MIME, content: Uint8Array.of(0, 1, 2) };
    await expect(client.requestResponse('ctl.op', {}, { metadata: [bad] })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    const zero = { mimeType: DEADLINE_MIME, content: Uint8Array.of(0, 0, 0, 0) };
    const err = (await client.requestResponse('ctl.op', {}, { metadata: [zero] }).catch((e: unknown) => e)) as SluiceError;
    expect(err.code).toBe('INVALID_ARGUMENT');
    expect(err.message).toMatch(/deadline/);
  });
});

describe('retries', () => {
  it('retries an idempotent route on another instance and succeeds', async () => {
    const a = controllable();
    const b = controllable();
    a.state.mode = 'fail';
    const gw = await gatewayWith({ 'ctl.op': { retry: { maxAttempts: 2, initialDelayMs: 0, maxDelayMs: 0 } } });
    await h.service({ url: gw.url, service: 'ctl', instance: 'ctl-a', routes: a.routes });
    await h.service({ url: gw.url, service: 'ctl', instance: 'ctl-b', routes: b.routes });
    const client = await h.client(gw.url);
    for (let i = 0; i < 10; i++) expect(await client.requestResponse('ctl.op', i)).toEqual({ ok: true, data: i });
    // Every request that hit the failing instance was retried on the other one.
    expect(b.state.calls).toBe(10);
    expect(metricValue(await metricsText(gw), 'sluice_retries_total', { route: 'ctl.op' })).toBe(a.state.calls);
  });

  it('keeps attempts reaching a failing service within the retry budget', async () => {
    const { state, routes } = controllable();
    state.mode = 'fail';
    const gw = await gatewayWith({
      'ctl.op': { retry: { maxAttempts: 5, initialDelayMs: 0, maxDelayMs: 0, budgetRatio: 0.1, budgetMinPerSec: 0, budgetTtlMs: 60_000 }, breaker: { enabled: false } },
    });
    await h.service({ url: gw.url, service: 'ctl', routes });
    const client = await h.client(gw.url);
    const n = 200;
    const errors = await Promise.all(Array.from({ length: n }, (_, i) => client.requestResponse('ctl.op', i).catch((e: SluiceError) => e.code)));
    expect(errors.every((c) => c === 'UNAVAILABLE')).toBe(true);
    // Without a budget this would be 5 x 200 = 1000 attempts.
    expect(state.calls).toBeGreaterThanOrEqual(n);
    expect(state.calls).toBeLessThanOrEqual(n + Math.ceil(n * 0.1) + 1);
    expect(metricValue(await metricsText(gw), 'sluice_retry_budget_exhausted_total', { route: 'ctl.op' })).toBeGreaterThan(0);
  });

  it('never retries a route that is not idempotent', async () => {
    const { state } = controllable();
    state.mode = 'fail';
    const gw = await h.gateway();
    await h.service({ url: gw.url, service: 'ctl', routes: { 'ctl.once': { requestResponse: () => (state.calls++, Promise.reject(new SluiceError('UNAVAILABLE', 'down'))) } } });
    const client = await h.client(gw.url);
    await expect(client.requestResponse('ctl.once', {})).rejects.toMatchObject({ code: 'UNAVAILABLE' });
    expect(state.calls).toBe(1);
  });
});

describe('circuit breaker', () => {
  it('opens on failures (fail fast without reaching the service), then half-opens and closes on recovery', async () => {
    const { state, routes } = controllable();
    state.mode = 'fail';
    const gw = await gatewayWith({
      'ctl.op': { idempotent: false, breaker: { windowSize: 10, minimumCalls: 5, failureRateThreshold: 0.5, openDurationMs: 300, halfOpenMaxCalls: 2 } },
    });
    await h.service({ url: gw.url, service: 'ctl', instance: 'ctl-1', routes });
    const client = await h.client(gw.url);
    for (let i = 0; i < 5; i++) await expect(client.requestResponse('ctl.op', i)).rejects.toMatchObject({ code: 'UNAVAILABLE' });
    const reached = state.calls;
    const open = (await client.requestResponse('ctl.op', 'x').catch((e: unknown) => e)) as SluiceError;
    expect(open.code).toBe('CIRCUIT_OPEN');
    expect(open.wireCode).toBe(0x202);
    expect(open.message).toMatch(/retry after \d+ ms/);
    expect(state.calls).toBe(reached);
    expect(metricValue(await metricsText(gw), 'sluice_breaker_state', { route: 'ctl.op', instance: 'ctl-1' })).toBe(2);
    state.mode = 'ok';
    // After openDurationMs the breaker lets probes through; once they succeed it closes.
    await eventually(async () => (await client.requestResponse('ctl.op', 'probe').then(() => true, () => false)), 'a probe to succeed', 100, 50);
    await client.requestResponse('ctl.op', 'probe 2');
    expect(metricValue(await metricsText(gw), 'sluice_breaker_state', { route: 'ctl.op', instance: 'ctl-1' })).toBe(0);
    expect(metricValue(await metricsText(gw), 'sluice_breaker_opened_total', { route: 'ctl.op', instance: 'ctl-1' })).toBe(1);
  });

  it("requesters' own 1 ms deadlines never open it: after 100 of them the breaker is closed and a legitimate call succeeds", async () => {
    const { state, routes } = controllable();
    const breaker = { windowSize: 10, minimumCalls: 5, failureRateThreshold: 0.5, openDurationMs: 60_000 };
    const gw = await gatewayWith({ 'ctl.slow': { deadlineMs: 5_000, breaker } });
    await h.service({ url: gw.url, service: 'ctl', instance: 'ctl-1', routes });
    const attacker = await h.client(gw.url);
    const outcomes = await Promise.all(
      Array.from({ length: 100 }, () => attacker.requestResponse('ctl.slow', {}, { metadata: [deadlineEntry(1)] }).then(() => 'ok', (e: SluiceError) => e.code)),
    );
    expect(outcomes.every((o) => o === 'DEADLINE_EXCEEDED')).toBe(true);
    const text = await metricsText(gw);
    expect(metricValue(text, 'sluice_breaker_state', { route: 'ctl.slow', instance: 'ctl-1' }) ?? 0).toBe(0);
    expect(metricValue(text, 'sluice_breaker_failures_total', { route: 'ctl.slow', instance: 'ctl-1' }) ?? 0).toBe(0);
    const customer = await h.client(gw.url);
    expect(await customer.requestResponse('ctl.slow', {})).toBe('slow done');
    expect(state.slowCalls).toBeGreaterThan(0);
  });

  it("the route policy's deadline still opens it, whether the requester sends no deadline or a longer one", async () => {
    const { routes } = controllable();
    const breaker = { windowSize: 4, minimumCalls: 4, failureRateThreshold: 0.5, openDurationMs: 60_000 };
    const gw = await gatewayWith({ 'ctl.slow': { deadlineMs: 50, breaker } });
    await h.service({ url: gw.url, service: 'ctl', instance: 'ctl-1', routes });
    const client = await h.client(gw.url);
    for (const metadata of [[], [deadlineEntry(10_000)], [], [deadlineEntry(50)]]) {
      await expect(client.requestResponse('ctl.slow', {}, { metadata })).rejects.toMatchObject({ code: 'DEADLINE_EXCEEDED', message: "deadline of 50 ms exceeded on route 'ctl.slow'" });
    }
    await expect(client.requestResponse('ctl.slow', {})).rejects.toMatchObject({ code: 'CIRCUIT_OPEN' });
    expect(metricValue(await metricsText(gw), 'sluice_breaker_state', { route: 'ctl.slow', instance: 'ctl-1' })).toBe(2);
  });

  it('sends calls to the fallback route while the breaker is open', async () => {
    const { state, routes } = controllable();
    state.mode = 'fail';
    const gw = await gatewayWith({ 'ctl.op': { idempotent: false, fallback: 'ctl.fallback', breaker: { windowSize: 4, minimumCalls: 4, openDurationMs: 60_000 } } });
    await h.service({ url: gw.url, service: 'ctl', routes });
    const client = await h.client(gw.url);
    for (let i = 0; i < 4; i++) await client.requestResponse('ctl.op', i).catch(() => undefined);
    expect(await client.requestResponse('ctl.op', 'x')).toEqual({ from: 'fallback' });
    expect(metricValue(await metricsText(gw), 'sluice_fallbacks_total', { route: 'ctl.op' })).toBe(1);
  });
});

describe('bulkheads and rate limits', () => {
  it('a saturated route answers OVERLOADED beyond its queue while another route stays fast', async () => {
    const { state, routes } = controllable();
    // One client fills the route here: a share beyond the bulkhead's slots and queue never binds (shares: fair-shares.test.ts).
    const gw = await gatewayWith({ 'ctl.slow': { bulkhead: { maxConcurrent: 5, maxQueue: 5, maxWaitMs: 50, maxPerIdentity: 100 } } });
    await h.service({ url: gw.url, service: 'ctl', routes });
    const client = await h.client(gw.url);
    const fastLatency = async () => {
      const start = performance.now();
      await client.requestResponse('ctl.fast', {});
      return performance.now() - start;
    };
    const slow = Array.from({ length: 30 }, () => client.requestResponse('ctl.slow', {}).then(() => 'ok', (e: SluiceError) => e.code));
    const during: number[] = [];
    for (let i = 0; i < 20; i++) during.push(await fastLatency());
    const outcomes = await Promise.all(slow);
    expect(outcomes.filter((o) => o === 'ok')).toHaveLength(5);
    expect(outcomes.filter((o) => o === 'OVERLOADED')).toHaveLength(25);
    expect(state.slowCalls).toBe(5);
    // The other route never waited for the slow one: well under the 300 ms the slow handler takes.
    during.sort((x, y) => x - y);
    expect(during[Math.floor(during.length * 0.95)]).toBeLessThan(300 / 3);
    expect(metricValue(await metricsText(gw), 'sluice_bulkhead_rejected_total', { route: 'ctl.slow' })).toBe(25);
  });

  it('rate-limits per client identity with a retry hint; other clients are unaffected', async () => {
    const { routes } = controllable();
    const gw = await gatewayWith({ 'ctl.op': { rateLimit: { ratePerSec: 1, burst: 5 } } });
    await h.service({ url: gw.url, service: 'ctl', routes });
    const auth = (user: string) => {
      const u = new TextEncoder().encode(user);
      return { mimeType: MimeTypes.AUTHENTICATION, content: Uint8Array.of(0x80, 0, u.length, ...u, ...new TextEncoder().encode('pw')) };
    };
    const alice = await h.client(gw.url, { setupMetadata: [auth('alice')] });
    const bob = await h.client(gw.url, { setupMetadata: [auth('bob')] });
    const results = await Promise.all(Array.from({ length: 8 }, (_, i) => alice.requestResponse('ctl.op', i).then(() => 'ok', (e: SluiceError) => e)));
    expect(results.filter((r) => r === 'ok')).toHaveLength(5);
    const refused = results.filter((r): r is SluiceError => r instanceof SluiceError);
    expect(refused).toHaveLength(3);
    for (const e of refused) {
      expect(e.code).toBe('OVERLOADED');
      expect(e.message).toMatch(/^rate limit of 1\/s \(burst 5\) for route 'ctl.op' exceeded; retry after \d+ ms$/);
    }
    expect(await bob.requestResponse('ctl.op', 'bob')).toEqual({ ok: true, data: 'bob' });
    expect(metricValue(await metricsText(gw), 'sluice_rate_limited_total', { route: 'ctl.op' })).toBe(3);
  });
});

describe('dead-letter queue', () => {
  it('keeps commands that exhausted retries or were refused as poison, across a restart, and replays them', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sluice-dlq-'));
    h.onCleanup(() => rm(dir, { recursive: true, force: true }));
    const { state, routes } = controllable();
    state.mode = 'fail';
    const policies = { 'ctl.op': { deadLetter: true, retry: { maxAttempts: 2, initialDelayMs: 0, maxDelayMs: 0 }, breaker: { enabled: false } } };
    const gw1 = await gatewayWith(policies, { deadLetter: { dir } });
    await h.service({ url: gw1.url, service: 'ctl', routes });
    const c1 = await h.client(gw1.url);
    const failed = (await c1.requestResponse('ctl.op', { refund: 1 }).catch((e: unknown) => e)) as SluiceError;
    expect(failed.code).toBe('UNAVAILABLE');
    expect(failed.message).toMatch(/\(dead-lettered as dl-\d+\)$/);
    state.mode = 'poison';
    const poison = (await c1.requestResponse('ctl.op', { refund: 2 }).catch((e: unknown) => e)) as SluiceError;
    expect(poison.code).toBe('POISON_MESSAGE');
    expect(poison.message).toMatch(/dead-lettered as dl-\d+/);
    expect(state.calls).toBe(3); // two attempts for the first, none retried for the poison
    await gw1.close();

    const gw2 = await gatewayWith(policies, { deadLetter: { dir } });
    await h.service({ url: gw2.url, service: 'ctl', routes });
    const c2 = await h.client(gw2.url);
    const listed: Array<{ id: string; route: string; data: unknown; error: { code: string }; state: string }> = [];
    await new Promise<void>((resolve, reject) => c2.requestStream<(typeof listed)[0]>('dlq.list', {}).subscribe({ next: (e) => listed.push(e), error: reject, complete: resolve }));
    expect(listed.map((e) => [e.route, e.data, e.error.code, e.state])).toEqual([
      ['ctl.op', { refund: 1 }, 'UNAVAILABLE', 'pending'],
      ['ctl.op', { refund: 2 }, 'POISON_MESSAGE', 'pending'],
    ]);
    expect(metricValue(await metricsText(gw2), 'sluice_dead_letters_pending')).toBe(2);
    state.mode = 'ok';
    state.calls = 0;
    const summary = await c2.requestResponse<{ replayed: number; failed: number }>('dlq.replay', { all: true });
    expect(summary).toMatchObject({ replayed: 2, failed: 0 });
    expect(state.calls).toBe(2);
    expect(metricValue(await metricsText(gw2), 'sluice_dead_letters_pending')).toBe(0);
    const again = await c2.requestResponse<{ replayed: number }>('dlq.replay', { all: true });
    expect(again.replayed).toBe(0);
  });
});

describe('dead-letter replays', () => {
  it('two replays of the whole queue at once on one gateway send each entry once', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sluice-dlq-'));
    h.onCleanup(() => rm(dir, { recursive: true, force: true }));
    const seen = new Map<number, number>();
    let fail = true;
    const routes = {
      'ctl.op': {
        requestResponse: ({ n }: { n: number }) => {
          if (fail) throw new SluiceError('UNAVAILABLE', 'dependency down');
          seen.set(n, (seen.get(n) ?? 0) + 1);
          return n;
        },
      },
    };
    const gw = await gatewayWith({ 'ctl.op': { deadLetter: true, retry: { maxAttempts: 1 }, breaker: { enabled: false } } }, { deadLetter: { dir } });
    await h.service({ url: gw.url, service: 'ctl', routes });
    const c1 = await h.client(gw.url);
    const c2 = await h.client(gw.url);
    for (let n = 0; n < 20; n++) await c1.requestResponse('ctl.op', { n }).catch(() => undefined);
    expect(gw.deadLetters!.pending()).toBe(20);
    fail = false;
    type Summary = { replayed: number; skipped: number };
    const [r1, r2] = await Promise.all([c1.requestResponse<Summary>('dlq.replay', { all: true }), c2.requestResponse<Summary>('dlq.replay', { all: true })]);
    expect(r1.replayed + r2.replayed).toBe(20);
    expect([...seen.values()]).toEqual(new Array(20).fill(1));
  });
});

describe('policy configuration', () => {
  it('fails start-up with a message naming the key and the allowed range', async () => {
    const bad = createGateway({ listen: { port: 0 }, admin: { enabled: false }, logging: { level: 'silent' }, policies: { defaults: {}, routes: { 'ctl.op': { retry: { maxAttempts: 50 } } } } });
    await expect(bad).rejects.toThrow(ConfigError);
    await expect(bad).rejects.toThrow("config 'policies.routes.ctl.op.retry.maxAttempts': must be an integer from 1 to 10, got 50");
    await expect(
      createGateway({ listen: { port: 0 }, admin: { enabled: false }, logging: { level: 'silent' }, policies: { defaults: { breaker: { failureRateThreshold: 2 } }, routes: {} } }),
    ).rejects.toThrow("config 'policies.defaults.breaker.failureRateThreshold': must be a number from 0.01 to 1, got 2");
    await expect(
      createGateway({ listen: { port: 0 }, admin: { enabled: false }, logging: { level: 'silent' }, policies: { defaults: {}, routes: { 'ctl.op': { retries: 3 } as never } } }),
    ).rejects.toThrow(/config 'policies.routes.ctl.op.retries': unknown key/);
  });
});


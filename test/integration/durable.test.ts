/**
 * Durable routes on both backends (the embedded log; NATS JetStream on a real
 * nats-server, which must be installed: never skipped), through real sockets: a command is
 * acknowledged once persisted, even with no instance serving the route; it is
 * delivered as instances grant demand (never more in flight than a service
 * requested), redelivered after failures with backoff, dead-lettered after
 * its last delivery, deduplicated by idempotency key; the route's bound
 * refuses OVERLOADED with a retry hint; callers without a grant are refused.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { firstValueFrom, from, toArray } from 'rxjs';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { establish } from '../../src/client/connector.js';
import { nodeTransport } from '../../src/transport/client-transport.js';
import { SluiceError } from '../../src/errors.js';
import { idempotencyKeyEntry } from '../../src/protocol/idempotency.js';
import { decodeJson, encodeJson } from '../../src/protocol/json.js';
import { registrationEntry } from '../../src/protocol/registration.js';
import type { Payload } from '../../src/protocol/frames.js';
import { refusingResponder, type Responder } from '../../src/rsocket/connection.js';
import type { Stream, StreamHandler } from '../../src/rsocket/stream.js';
import type { GatewayOptions } from '../../src/config.js';
import type { RoutePolicyInput } from '../../src/policy/policy-config.js';
import { eventually, metricValue, metricsText, useHarness } from '../helpers/harness.js';
import { mint, secretFile, withToken } from '../helpers/auth.js';
import { startJetStream, type JetStreamCluster } from '../../examples/bench/src/jetstream-cluster.js';

const h = useHarness();
let dir: string;
let nats: JetStreamCluster | undefined;
let tests = 0;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sluice-durable-it-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});
afterAll(async () => {
  await nats?.stop();
});

type Backend = 'embedded' | 'jetstream';
let backend: Backend = 'embedded';

async function durableGateway(routes: Record<string, RoutePolicyInput>, extra: GatewayOptions = {}) {
  const on: GatewayOptions =
    backend === 'embedded'
      ? { durable: { dir: join(dir, 'durable') } }
      : // Streams outlive a test on the shared server: each test has prefixes of its own.
        { nats: { servers: (nats ??= await startJetStream(1)).servers, streamPrefix: `T${process.pid}_${++tests}` } };
  return h.gateway({ ...extra, ...on, deadLetter: { dir: join(dir, 'dlq') }, policies: { defaults: {}, routes } });
}

/** A durable route's depth, once it reads `n` (JetStream's is read from the server, at most a second old). */
const depthIs = (gw: { adminUrl: string | undefined }, route: string, n: number) =>
  eventually(async () => metricValue(await metricsText(gw as never), 'sluice_durable_depth', { route }) === n, `depth ${n} on ${route}`, 400, 25);

/**
 * A service over a bare connection whose channel handler grants demand only
 * when told to, and checks the engine-level invariant the gateway must keep:
 * commands received never exceed the demand granted (1 for the request frame
 * plus every REQUEST_N).
 */
async function manualChannelService(url: string, route: string, instance = 'w-1') {
  const received: string[] = [];
  let granted = 0;
  let maxOutstanding = 0;
  let stream: Stream | undefined;
  const channelReady: Array<() => void> = [];
  const onCommand = (p: Payload) => {
    received.push(decodeJson(p.data) as string);
    maxOutstanding = Math.max(maxOutstanding, received.length - acked);
    if (received.length > granted) throw new Error(`received ${received.length} commands with only ${granted} granted`);
  };
  let acked = 0;
  const responder: Responder = {
    ...refusingResponder,
    requestChannel(first: Payload, _complete: boolean, down: Stream): StreamHandler {
      stream = down;
      granted = 1;
      onCommand(first);
      for (const r of channelReady.splice(0)) r();
      return { onNext: (p) => onCommand(p), onComplete() {}, onError() {}, onRequest() {}, onCancel() {} };
    },
  };
  const conn = await establish(nodeTransport, { url, setupMetadata: [registrationEntry({ service: 'worker', instance, routes: [route] })], responder });
  h.onCleanup(() => conn.close());
  return {
    conn,
    received,
    get maxOutstanding() {
      return maxOutstanding;
    },
    opened: () => (stream ? Promise.resolve() : new Promise<void>((r) => channelReady.push(r))),
    grant(n: number) {
      granted += n;
      stream!.request(n);
    },
    /** Acks the oldest unacknowledged command. */
    ack() {
      acked++;
      stream!.next({ data: encodeJson({ ok: true }), metadata: null });
    },
  };
}

describe.each<Backend>(['embedded', 'jetstream'])('durable routes (%s backend)', (which) => {
  beforeEach(() => {
    backend = which;
  });

  it('acknowledges a command once persisted while no instance serves the route, then delivers it when one registers', async () => {
    const gw = await durableGateway({ 'jobs.do': { durable: { enabled: true, delivery: 'response' } } });
    const client = await h.client(gw.url);
    // No instance: a plain route would answer NO_ROUTE.
    const ack = await client.requestResponse<{ id: string; idempotencyKey: string | null; duplicate: boolean }>('jobs.do', { job: 1 });
    expect(ack).toEqual({ id: '1', idempotencyKey: null, duplicate: false });
    await expect(client.requestResponse('jobs.other', {})).rejects.toMatchObject({ code: 'NO_ROUTE' });
    await depthIs(gw, 'jobs.do', 1);
    // The dashboard's stream shows the queue too.
    const snap = await firstValueFrom(client.requestStream<{ durable: Array<{ route: string; depth: number; inFlight: number }> }>('sluice.stats', {}));
    expect(snap.durable).toEqual([expect.objectContaining({ route: 'jobs.do', depth: 1, inFlight: 0 })]);

    const seen: unknown[] = [];
    await h.service({ url: gw.url, service: 'jobs', instance: 'jobs-1', routes: { 'jobs.do': { requestResponse: (d: unknown) => (seen.push(d), { done: true }) } } });
    await eventually(() => seen.length === 1, 'the command delivered');
    expect(seen).toEqual([{ job: 1 }]);
    await depthIs(gw, 'jobs.do', 0);
    const m = await metricsText(gw);
    expect(metricValue(m, 'sluice_durable_delivered_total', { route: 'jobs.do' })).toBe(1);
    expect(metricValue(m, 'sluice_durable_accepted_total', { route: 'jobs.do' })).toBe(1);
  });

  it('sends a channel service only the commands it requested, and each reply acknowledges the oldest', async () => {
    const gw = await durableGateway({ 'work.*': { durable: true } });
    const client = await h.client(gw.url);
    const acks = await firstValueFrom(client.requestChannel<unknown, { id: string }>('work.items', from(Array.from({ length: 20 }, (_, i) => `c${i}`))).pipe(toArray()));
    expect(acks.map((a) => a.id)).toEqual(Array.from({ length: 20 }, (_, i) => String(i + 1)));

    const svc = await manualChannelService(gw.url, 'work.items');
    await svc.opened();
    // One command came with the request frame; nothing more until the service asks.
    await svc.conn.ping();
    await svc.conn.ping();
    expect(svc.received).toEqual(['c0']);
    svc.grant(3);
    await eventually(() => svc.received.length === 4, 'three more commands');
    await svc.conn.ping();
    expect(svc.received).toHaveLength(4);
    for (let i = 0; i < 4; i++) svc.ack();
    await depthIs(gw, 'work.items', 16);
    svc.grant(100);
    await eventually(() => svc.received.length === 20, 'the rest');
    for (let i = 4; i < 20; i++) svc.ack();
    expect(svc.received).toEqual(Array.from({ length: 20 }, (_, i) => `c${i}`));
    await depthIs(gw, 'work.items', 0);
    expect(metricValue(await metricsText(gw), 'sluice_durable_redeliveries_total', { route: 'work.items' })).toBe(0);
  });

  it('stores the route with every command, so commands a channel sent without metadata are delivered one by one', async () => {
    const gw = await durableGateway({ 'jobs.each': { durable: { enabled: true, delivery: 'response' } } });
    const client = await h.client(gw.url);
    await firstValueFrom(client.requestChannel('jobs.each', from([1, 2, 3, 4, 5])).pipe(toArray()));
    const seen: unknown[] = [];
    await h.service({ url: gw.url, service: 'jobs', instance: 'jobs-1', routes: { 'jobs.each': { requestResponse: (d: unknown) => (seen.push(d), {}) } } });
    await eventually(() => seen.length === 5, 'five commands delivered');
    expect(seen.sort()).toEqual([1, 2, 3, 4, 5]);
    expect(metricValue(await metricsText(gw), 'sluice_durable_redeliveries_total', { route: 'jobs.each' })).toBe(0);
  });

  it('redelivers a failed command with backoff and dead-letters it after maxDeliveries', async () => {
    const gw = await durableGateway({ 'jobs.fail': { durable: { enabled: true, delivery: 'response', maxDeliveries: 3, backoffInitialMs: 20, backoffMaxMs: 40 } } });
    const attempts: number[] = [];
    await h.service({
      url: gw.url,
      service: 'jobs',
      instance: 'jobs-1',
      routes: {
        'jobs.fail': {
          requestResponse: () => {
            attempts.push(Date.now());
            throw new SluiceError('INTERNAL', 'always fails');
          },
        },
      },
    });
    const client = await h.client(gw.url);
    await client.requestResponse('jobs.fail', { n: 1 });
    await eventually(async () => metricValue(await metricsText(gw), 'sluice_durable_dead_lettered_total', { route: 'jobs.fail' }) === 1, 'dead-lettered');
    expect(attempts).toHaveLength(3);
    const m = await metricsText(gw);
    expect(metricValue(m, 'sluice_durable_redeliveries_total', { route: 'jobs.fail' })).toBe(2);
    await depthIs(gw, 'jobs.fail', 0);
    const letters = await gw.deadLetters!.store.list({ state: 'pending', limit: 10 });
    expect(letters).toHaveLength(1);
    expect(letters[0]).toMatchObject({ route: 'jobs.fail', attempts: 3, error: { code: 'INTERNAL', message: 'always fails' } });
    expect(decodeJson(Buffer.from(letters[0]!.data, 'base64'))).toEqual({ n: 1 });
  });

  it('redelivers a command its instance neither acknowledges nor fails within ackTimeoutMs', async () => {
    const gw = await durableGateway({ 'jobs.slow': { durable: { enabled: true, delivery: 'response', ackTimeoutMs: 200, backoffInitialMs: 0, backoffMaxMs: 0 } } });
    let calls = 0;
    await h.service({
      url: gw.url,
      service: 'jobs',
      instance: 'jobs-1',
      // The first delivery is never answered: without the ack timeout it would be held for ever.
      routes: { 'jobs.slow': { requestResponse: () => (++calls === 1 ? new Promise(() => {}) : { ok: true }) } },
    });
    const client = await h.client(gw.url);
    await client.requestResponse('jobs.slow', { n: 1 });
    await eventually(async () => metricValue(await metricsText(gw), 'sluice_durable_delivered_total', { route: 'jobs.slow' }) === 1, 'delivered after the timeout');
    expect(calls).toBe(2);
    expect(metricValue(await metricsText(gw), 'sluice_durable_redeliveries_total', { route: 'jobs.slow' })).toBe(1);
    await depthIs(gw, 'jobs.slow', 0);
  });

  it('ends a delivery channel whose oldest command is not acknowledged within ackTimeoutMs, and redelivers on a new one', async () => {
    const gw = await durableGateway({ 'jobs.chan': { durable: { enabled: true, delivery: 'channel', ackTimeoutMs: 200, backoffInitialMs: 0, backoffMaxMs: 0 } } });
    // Channel 1 takes the command and never answers; channel 2 answers each command.
    const channels: Array<{ commands: string[]; cancelled: boolean }> = [];
    const responder: Responder = {
      ...refusingResponder,
      requestChannel(first: Payload, _complete: boolean, down: Stream): StreamHandler {
        const ch = { commands: [decodeJson(first.data) as string], cancelled: false };
        channels.push(ch);
        const answering = channels.length > 1;
        down.request(8);
        if (answering) down.next({ data: encodeJson({ ok: true }), metadata: null });
        return {
          onNext: (p) => {
            ch.commands.push(decodeJson(p.data) as string);
            if (answering) down.next({ data: encodeJson({ ok: true }), metadata: null });
          },
          onComplete() {},
          onError() {},
          onRequest() {},
          onCancel: () => void (ch.cancelled = true),
        };
      },
    };
    const conn = await establish(nodeTransport, { url: gw.url, setupMetadata: [registrationEntry({ service: 'worker', instance: 'w-1', routes: ['jobs.chan'] })], responder });
    h.onCleanup(() => conn.close());
    const client = await h.client(gw.url);
    await client.requestResponse('jobs.chan', 'stuck-then-done');
    await eventually(async () => metricValue(await metricsText(gw), 'sluice_durable_delivered_total', { route: 'jobs.chan' }) === 1, 'delivered on the second channel');
    expect(channels.map((c) => c.commands)).toEqual([['stuck-then-done'], ['stuck-then-done']]);
    expect(channels[0]!.cancelled).toBe(true);
  });

  it('deduplicates by idempotency key: the repeat is acknowledged with the first id and delivered once', async () => {
    const gw = await durableGateway({ 'jobs.once': { durable: { enabled: true, delivery: 'response' } } });
    const client = await h.client(gw.url);
    const key = [idempotencyKeyEntry('order-42')];
    const a = await client.requestResponse<{ id: string; duplicate: boolean }>('jobs.once', { v: 1 }, { metadata: key });
    const b = await client.requestResponse<{ id: string; duplicate: boolean; idempotencyKey: string }>('jobs.once', { v: 1 }, { metadata: key });
    expect(a).toMatchObject({ duplicate: false });
    expect(b).toEqual({ id: a.id, duplicate: true, idempotencyKey: 'order-42' });
    const seen: unknown[] = [];
    await h.service({ url: gw.url, service: 'jobs', instance: 'jobs-1', routes: { 'jobs.once': { requestResponse: (d: unknown) => (seen.push(d), {}) } } });
    await eventually(async () => metricValue(await metricsText(gw), 'sluice_durable_delivered_total', { route: 'jobs.once' }) === 1, 'delivered');
    await client.requestResponse('jobs.once', { v: 1 }, { metadata: key });
    expect(seen).toEqual([{ v: 1 }]);
    expect(metricValue(await metricsText(gw), 'sluice_durable_duplicates_total', { route: 'jobs.once' })).toBe(2);
  });

  it('refuses OVERLOADED with a retry hint at the route bound, per command on a channel, and refuses request-stream', async () => {
    const gw = await durableGateway({ 'jobs.small': { durable: { enabled: true, maxMessages: 2 } } });
    const client = await h.client(gw.url);
    const acks = await firstValueFrom(client.requestChannel<string, Record<string, unknown>>('jobs.small', from(['a', 'b', 'c'])).pipe(toArray()));
    expect(acks[0]).toMatchObject({ id: '1' });
    expect(acks[1]).toMatchObject({ id: '2' });
    expect(acks[2]).toMatchObject({ error: { code: 'OVERLOADED', retryAfterMs: 1000 } });
    const err = await client.requestResponse('jobs.small', 'd').catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'OVERLOADED' });
    expect((err as SluiceError).message).toMatch(/durable.maxMessages.*retry after 1000 ms/);
    await expect(firstValueFrom(client.requestStream('jobs.small', {}))).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    expect(metricValue(await metricsText(gw), 'sluice_durable_refused_total', { route: 'jobs.small' })).toBe(2);
  });

  it('refuses a caller whose grant does not cover the route with PERMISSION_DENIED, and stores nothing', async () => {
    const gw = await durableGateway({ 'jobs.do': { durable: { enabled: true, delivery: 'response' } } }, { auth: { secretFile: await secretFile(h) } });
    const other = await h.client(gw.url, { setupMetadata: withToken(await mint('nobody', { call: ['bench.*'] })) });
    await expect(other.requestResponse('jobs.do', {})).rejects.toMatchObject({ code: 'PERMISSION_DENIED' });
    other.fireAndForget('jobs.do', {});
    const allowed = await h.client(gw.url, { setupMetadata: withToken(await mint('caller', { call: ['jobs.*'] })) });
    expect(await allowed.requestResponse('jobs.do', {})).toMatchObject({ id: '1' });
    await depthIs(gw, 'jobs.do', 1);
    expect(gw.durable!.stats().find((s) => s.route === 'jobs.do')).toMatchObject({ accepted: 1 });
  });
});

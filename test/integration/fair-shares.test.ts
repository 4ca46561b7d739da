/**
 * Per-identity shares of route bulkheads over real sockets: one client
 * holding as many interactions as it can (from its own loopback address,
 * 127.0.0.2, over several connections) takes at most its share, and a client
 * from another address is still served on the same route.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import type { Duplex } from 'node:stream';
import { SluiceError } from '../../src/errors.js';
import { establish } from '../../src/client/connector.js';
import { nodeTransport } from '../../src/transport/client-transport.js';
import { WebSocketTransport } from '../../src/transport/websocket-transport.js';
import { registrationEntry } from '../../src/protocol/registration.js';
import type { Connection, Responder } from '../../src/rsocket/connection.js';
import type { FrameTransport } from '../../src/rsocket/transport.js';
import type { StreamHandler } from '../../src/rsocket/stream.js';
import { checkoutPolicies, SUBMIT_CHANNELS_PER_IDENTITY } from '../../examples/checkout/src/gateway-policies.js';
import { defaultOrderOptions } from '../../examples/checkout/src/config.js';
import { jsonPayload, metricValue, metricsText, recorder, useHarness } from '../helpers/harness.js';

const h = useHarness();

/** A WebSocket transport whose socket is bound to `localAddress`: another client, as the gateway sees it. */
function from(localAddress: string) {
  return (url: string) =>
    new Promise<FrameTransport>((resolve, reject) => {
      const ws = new WebSocket(url, { perMessageDeflate: false, localAddress });
      let socket: Duplex | undefined;
      ws.once('error', reject);
      ws.once('upgrade', (res) => (socket = res.socket));
      ws.once('open', () => resolve(new WebSocketTransport(ws, socket!, url)));
    });
}

async function connectFrom(localAddress: string, url: string): Promise<Connection> {
  const conn = await establish(from(localAddress), { url });
  h.onCleanup(() => conn.close());
  return conn;
}

const idle: StreamHandler = { onNext() {}, onComplete() {}, onError() {}, onRequest() {}, onCancel() {} };
const hello = () => jsonPayload('unused', 'hello');

/** A service whose streams and channels answer one item and then stay open until cancelled. */
async function holdingService(url: string, routes: string[]): Promise<{ opened: () => number }> {
  let opened = 0;
  const responder: Responder = {
    fireAndForget() {},
    requestResponse: (_p, s) => (s.error(new SluiceError('INTERNAL', 'unused')), s.handler),
    requestStream: (_p, s) => {
      opened++;
      s.next({ data: hello().data, metadata: null });
      return idle;
    },
    requestChannel: (_p, _c, s) => {
      opened++;
      s.next({ data: hello().data, metadata: null });
      return idle;
    },
  };
  const conn = await establish(nodeTransport, { url, setupMetadata: [registrationEntry({ service: 'hold', instance: 'hold-1', routes })], responder });
  h.onCleanup(() => conn.close());
  return { opened: () => opened };
}

/** Opens `n` streams (or channels) on `conn`; resolves with each one's first outcome: 'item' or the error code. */
function open(conn: Connection, route: string, n: number, model: 'stream' | 'channel' = 'stream'): Promise<string[]> {
  return Promise.all(
    Array.from({ length: n }, () => {
      const rec = recorder();
      if (model === 'stream') conn.requestStream(jsonPayload(route, {}), 1, rec.handler);
      else conn.requestChannel(jsonPayload(route, {}), 1, false, rec.handler);
      return Promise.race([rec.received(1).then(() => 'item'), rec.ended.then((e) => (e.error as SluiceError | undefined)?.code ?? 'complete')]);
    }),
  );
}

describe('per-identity shares of a route bulkhead', () => {
  it('one client over several connections takes at most its share; another client is served, not OVERLOADED', async () => {
    // 20 slots and no queue: without shares, the first client's 30 streams would take all 20.
    const gw = await h.gateway({ policies: { defaults: {}, routes: { 'hold.stream': { bulkhead: { maxConcurrent: 20, maxQueue: 0 } } } } });
    const svc = await holdingService(gw.url, ['hold.stream']);
    const greedy = await Promise.all([connectFrom('127.0.0.2', gw.url), connectFrom('127.0.0.2', gw.url)]);
    const outcomes = (await Promise.all(greedy.map((c) => open(c, 'hold.stream', 15)))).flat();
    // The default share is half the route's slots.
    expect(outcomes.filter((o) => o === 'item')).toHaveLength(10);
    expect(outcomes.filter((o) => o === 'OVERLOADED')).toHaveLength(20);

    const other = await connectFrom('127.0.0.1', gw.url);
    expect(await open(other, 'hold.stream', 10)).toEqual(Array(10).fill('item'));
    expect(svc.opened()).toBe(20);
    const text = await metricsText(gw);
    expect(metricValue(text, 'sluice_identity_share_rejected_total', { route: 'hold.stream' })).toBe(20);
    expect(metricValue(text, 'sluice_bulkhead_rejected_total', { route: 'hold.stream' })).toBe(0);

    // The refusal names the share, so the client knows it is its own excess, not the route's.
    const rec = recorder();
    greedy[0]!.requestStream(jsonPayload('hold.stream', {}), 1, rec.handler);
    const { error } = await rec.ended;
    expect(error).toMatchObject({ code: 'OVERLOADED', message: "this client already has its share of 10 concurrent interactions on route 'hold.stream' (bulkhead.maxPerIdentity)" });

    // Closing the greedy connections gives their share back.
    for (const c of greedy) c.close();
    const again = await connectFrom('127.0.0.2', gw.url);
    expect(await open(again, 'hold.stream', 1)).toEqual(['item']);
  });

  it("with the demo's policies, one client holding every checkout.submit channel an order instance takes leaves room for others", async () => {
    // checkout.submit is durable in the demo: its commands are kept in a directory of the test's own.
    const dir = await mkdtemp(join(tmpdir(), 'sluice-shares-'));
    h.onCleanup(() => rm(dir, { recursive: true, force: true }));
    const gw = await h.gateway({ policies: checkoutPolicies, durable: { dir: join(dir, 'durable') }, deadLetter: { dir } });
    await holdingService(gw.url, ['checkout.submit']);
    const greedy = await connectFrom('127.0.0.2', gw.url);
    const outcomes = await open(greedy, 'checkout.submit', defaultOrderOptions.maxSubmitChannels, 'channel');
    expect(outcomes.filter((o) => o === 'item')).toHaveLength(SUBMIT_CHANNELS_PER_IDENTITY);
    expect(outcomes.filter((o) => o === 'OVERLOADED')).toHaveLength(defaultOrderOptions.maxSubmitChannels - SUBMIT_CHANNELS_PER_IDENTITY);
    const other = await connectFrom('127.0.0.1', gw.url);
    expect(await open(other, 'checkout.submit', 4, 'channel')).toEqual(Array(4).fill('item'));
  });
});

/**
 * The forwarding path (Forwarder + Forwarding) on in-memory transports:
 * requester and service are bare connections the test drives frame by frame,
 * so each test can put the interaction exactly in the phase it is about
 * (bulkhead wait, retry backoff, open upstream) and check what every side
 * saw, and that nothing is left behind.
 */
import fc from 'fast-check';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { encodePayloadFrame, encodeSetup } from '../../src/protocol/codec.js';
import { Flags, FrameType, type Payload } from '../../src/protocol/frames.js';
import { MimeTypes, encodeComposite, encodeRoutes, findRoute, routeMetadata } from '../../src/protocol/metadata.js';
import { ServerConnection } from '../../src/rsocket/server-connection.js';
import type { FrameTransport, TransportHandler } from '../../src/rsocket/transport.js';
import { deadlineEntry } from '../../src/resilience/deadline.js';
import { events, failWith, memoryGateway, request, type Events } from '../helpers/memory-gateway.js';
import { settle } from '../helpers/memory-transport.js';

const gateways: Array<ReturnType<typeof memoryGateway>> = [];
afterEach(() => {
  for (const g of gateways.splice(0)) g.close();
  vi.useRealTimers();
  vi.restoreAllMocks();
});

function gateway(options: Parameters<typeof memoryGateway>[0] = {}) {
  const g = memoryGateway(options);
  gateways.push(g);
  return g;
}

/**
 * Settles deliveries until `done()` holds. Timers may need a turn (a 0 ms retry
 * backoff is a 1 ms timer), and a fast event loop can run many immediates within
 * one millisecond, so each round also waits for a timer turn.
 */
async function eventually(done: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !done(); i++) {
    await settle();
    await new Promise((r) => setTimeout(r, 1));
  }
  expect(done()).toBe(true);
}

/** A gateway whose only instance of `svc.op` may open one stream, and a requester whose stream holds that one. */
async function instanceAtStreamLimit() {
  const g = gateway({ limits: { maxOutboundStreams: 1 } });
  const svc = g.service('svc', 'svc-1', ['svc.op']);
  const req = g.requester();
  await settle();
  req.connection.requestStream(request('svc.op', 'a'), 1, events());
  await settle();
  return { g, svc, req };
}

const nothingLeft = { live: 0, instanceActive: 0, routeActive: 0, bulkheadActive: 0, bulkheadQueued: 0, shareHolders: 0, prefetchHeldBytes: 0 };

/**
 * The end of a half-open story: a third call on `svc.op` goes through, its answer closes the
 * breaker, and nothing is left behind (the probe before it was freed, not judged).
 */
async function expectThirdCallClosesBreaker(
  g: ReturnType<typeof memoryGateway>,
  svc: ReturnType<ReturnType<typeof memoryGateway>['service']>,
  req: ReturnType<ReturnType<typeof memoryGateway>['requester']>,
): Promise<void> {
  const next = events();
  req.connection.requestResponse(request('svc.op', 3), next);
  await settle();
  expect(svc.served).toHaveLength(3);
  svc.served[2]!.stream.next({ data: new TextEncoder().encode('3'), metadata: null }, true);
  await settle();
  expect(next.events).toEqual(['next:3', 'complete']);
  expect(g.policies.breakerState('svc.op')).toBe('closed');
  expect(g.leftovers()).toEqual(nothingLeft);
}

describe('channel input during the bulkhead wait', () => {
  it('a requester that completes its input while waiting for a slot has it completed upstream', async () => {
    const g = gateway({ policies: { routes: { 'svc.chan': { bulkhead: { maxConcurrent: 1, maxQueue: 1, maxWaitMs: 60_000, maxPerIdentity: 2 } } } } });
    const svc = g.service('svc', 'svc-1', ['svc.chan']);
    const req = g.requester();
    await settle();

    // The first channel takes the route's only slot.
    const first = events();
    const a = req.connection.requestChannel(request('svc.chan', 'a'), 1, false, first);
    await settle();
    expect(svc.served).toHaveLength(1);

    // The second waits for it, and its requester ends its input meanwhile.
    const second = events();
    const b = req.connection.requestChannel(request('svc.chan', 'b'), 1, false, second);
    await settle();
    expect(svc.served).toHaveLength(1);
    b.complete();
    await settle();

    // The first channel ends both ways: the slot goes to the second.
    a.complete();
    svc.served[0]!.stream.complete();
    await settle();
    expect(first.events).toEqual(['complete']);
    expect(svc.served).toHaveLength(2);
    const upstream = svc.served[1]!;
    // The service must learn that the input is over, or it waits for it forever.
    expect(upstream.complete || upstream.handler.events.includes('complete')).toBe(true);

    upstream.stream.complete();
    await settle();
    expect(second.events).toEqual(['complete']);
    expect(g.leftovers()).toEqual(nothingLeft);
  });
});

describe('instance loss', () => {
  it("the only instance of an idempotent route disconnecting ends the call with UNAVAILABLE naming it, even after a retry", async () => {
    vi.useFakeTimers();
    const g = gateway({ policies: { routes: { 'svc.op': { retry: { maxAttempts: 3, initialDelayMs: 10, maxDelayMs: 10 } } } } });
    const svc = g.service('svc', 'svc-1', [{ name: 'svc.op', idempotent: true }]);
    const req = g.requester();
    await settle();
    const got = events();
    req.connection.requestResponse(request('svc.op', 1), got);
    await settle();
    expect(svc.served).toHaveLength(1);

    svc.transport.disconnect();
    await settle();
    await vi.advanceTimersByTimeAsync(50);
    await settle();
    expect(got.events).toEqual(['error:UNAVAILABLE']);
    expect(got.messages).toEqual(["instance 'svc-1' of service 'svc' disconnected"]);
    expect(g.leftovers()).toEqual(nothingLeft);
  });
});

describe('leaving nothing behind', () => {
  const slow = { 'svc.op': { bulkhead: { maxConcurrent: 1, maxQueue: 5, maxWaitMs: 60_000, maxPerIdentity: 6 }, retry: { maxAttempts: 3, initialDelayMs: 1_000, maxDelayMs: 1_000 } } };

  it('a requester that cancels while waiting for a slot never reaches the service', async () => {
    vi.useFakeTimers();
    const g = gateway({ policies: { routes: slow } });
    const svc = g.service('svc', 'svc-1', [{ name: 'svc.op', idempotent: true }]);
    const req = g.requester();
    await settle();
    const first = events();
    req.connection.requestStream(request('svc.op', 'a'), 1, first);
    await settle();
    const waiting = req.connection.requestStream(request('svc.op', 'b'), 1, events());
    await settle();
    expect(g.leftovers()).toMatchObject({ live: 2, bulkheadActive: 1, bulkheadQueued: 1 });
    waiting.cancel();
    await settle();
    expect(g.leftovers()).toMatchObject({ live: 1, bulkheadActive: 1, bulkheadQueued: 0 });
    svc.served[0]!.stream.complete();
    await settle();
    await vi.advanceTimersByTimeAsync(120_000);
    expect(svc.served).toHaveLength(1);
    expect(first.events).toEqual(['complete']);
    expect(g.leftovers()).toEqual(nothingLeft);
  });

  it('a requester that cancels during a retry backoff is not retried', async () => {
    vi.useFakeTimers();
    const g = gateway({ policies: { routes: slow } });
    const svc = g.service('svc', 'svc-1', [{ name: 'svc.op', idempotent: true }], (s) => s.stream.error(failWith('UNAVAILABLE')));
    const req = g.requester();
    await settle();
    const got = events();
    const stream = req.connection.requestStream(request('svc.op', 'a'), 4, got);
    await settle();
    expect(svc.served).toHaveLength(1);
    stream.cancel();
    await settle();
    await vi.advanceTimersByTimeAsync(10_000);
    await settle();
    expect(svc.served).toHaveLength(1);
    expect(got.events).toEqual([]);
    expect(g.leftovers()).toEqual(nothingLeft);
  });

  it('a deadline that passes while waiting for a slot answers DEADLINE_EXCEEDED and frees the queue place', async () => {
    vi.useFakeTimers();
    const g = gateway({ policies: { routes: slow } });
    const svc = g.service('svc', 'svc-1', [{ name: 'svc.op', idempotent: true }]);
    const req = g.requester();
    await settle();
    req.connection.requestStream(request('svc.op', 'a'), 1, events());
    await settle();
    const got = events();
    req.connection.requestResponse(request('svc.op', 'b', [deadlineEntry(100)]), got);
    await settle();
    await vi.advanceTimersByTimeAsync(150);
    await settle();
    expect(got.events).toEqual(['error:DEADLINE_EXCEEDED']);
    expect(g.leftovers()).toMatchObject({ live: 1, bulkheadActive: 1, bulkheadQueued: 0 });
    svc.served[0]!.stream.complete();
    await settle();
    expect(svc.served).toHaveLength(1);
    expect(g.leftovers()).toEqual(nothingLeft);
  });

  it('demand sent while waiting for a slot reaches the upstream with the request, and only that much', async () => {
    const g = gateway({ policies: { routes: slow } });
    const svc = g.service('svc', 'svc-1', ['svc.op']);
    const req = g.requester();
    await settle();
    req.connection.requestStream(request('svc.op', 'a'), 1, events());
    await settle();
    const waiting = req.connection.requestStream(request('svc.op', 'b'), 2, events());
    await settle();
    waiting.request(3);
    await settle();
    svc.served[0]!.stream.complete();
    await settle();
    expect(svc.served).toHaveLength(2);
    expect(svc.served[1]!.stream.sendCredit).toBe(5);
  });

  it('a retried stream asks the new instance for exactly the requester’s outstanding demand', async () => {
    const g = gateway({ policies: { routes: { 'svc.op': { retry: { maxAttempts: 2, initialDelayMs: 0, maxDelayMs: 0 } } } } });
    const a = g.service('svc', 'svc-a', [{ name: 'svc.op', idempotent: true }]);
    const req = g.requester();
    await settle();
    const got = events();
    const stream = req.connection.requestStream(request('svc.op', 'x'), 2, got);
    await settle();
    stream.request(5);
    await settle();
    expect(a.served[0]!.stream.sendCredit).toBe(7);
    const b = g.service('svc', 'svc-b', [{ name: 'svc.op', idempotent: true }]);
    await settle();
    a.served[0]!.stream.error(failWith('UNAVAILABLE'));
    await eventually(() => b.served.length === 1);
    expect(b.served[0]!.stream.sendCredit).toBe(7);
    b.served[0]!.stream.next({ data: new TextEncoder().encode('1'), metadata: null }, true);
    await settle();
    expect(got.events).toEqual(['next:1', 'complete']);
    expect(g.leftovers()).toEqual(nothingLeft);
  });

  it('an instance at its stream limit is an attempt failure, and the slot and counters come back', async () => {
    const { g, svc, req } = await instanceAtStreamLimit();
    const refused = events();
    req.connection.requestStream(request('svc.op', 'b'), 1, refused);
    await settle();
    expect(refused.events).toEqual(['error:OVERLOADED']);
    svc.served[0]!.stream.complete();
    await settle();
    expect(g.leftovers()).toEqual(nothingLeft);
  });

  it('a requester that disconnects mid-stream cancels upstream', async () => {
    const g = gateway();
    const svc = g.service('svc', 'svc-1', ['svc.op']);
    const req = g.requester();
    await settle();
    req.connection.requestChannel(request('svc.op', 'a'), 1, false, events());
    await settle();
    req.transport.disconnect();
    await settle();
    expect(svc.served[0]!.handler.events).toEqual(['cancel']);
    expect(g.leftovers()).toEqual(nothingLeft);
  });

  it('a half-open probe the requester cancels before its first signal frees the probe slot', async () => {
    let now = 0;
    const g = gateway({
      clock: () => now,
      policies: { routes: { 'svc.op': { breaker: { windowSize: 1, minimumCalls: 1, failureRateThreshold: 1, openDurationMs: 1_000, halfOpenMaxCalls: 1 } } } },
    });
    const svc = g.service('svc', 'svc-1', ['svc.op']);
    const req = g.requester();
    await settle();
    const failed = events();
    req.connection.requestResponse(request('svc.op', 1), failed);
    await settle();
    svc.served[0]!.stream.error(failWith('INTERNAL'));
    await settle();
    expect(g.policies.breakerState('svc.op')).toBe('open');
    now = 1_000;
    const probe = req.connection.requestResponse(request('svc.op', 2), events());
    await settle();
    expect(svc.served).toHaveLength(2);
    probe.cancel();
    await settle();
    await expectThirdCallClosesBreaker(g, svc, req);
  });
});

describe('dead letters', () => {
  it('an interaction stays live until its requester has the dead-lettered error, so a drain waits for it', async () => {
    let store!: (id: string) => void;
    const g = gateway({
      policies: { routes: { 'svc.op': { deadLetter: true } } },
      deadLetter: () => new Promise<string>((resolve) => (store = resolve)),
    });
    const svc = g.service('svc', 'svc-1', ['svc.op'], (s) => s.stream.error(failWith('POISON_MESSAGE', 'never')));
    const req = g.requester();
    await settle();
    const got = events();
    req.connection.requestResponse(request('svc.op', 1), got);
    await settle();
    expect(svc.served).toHaveLength(1);
    // The dead letter is being written: the requester has no answer yet.
    expect(got.events).toEqual([]);
    expect(g.leftovers()).toMatchObject({ live: 1, instanceActive: 0, bulkheadActive: 0 });
    store('dl-000001');
    await settle();
    expect(got.events).toEqual(['error:POISON_MESSAGE']);
    expect(got.messages).toEqual(['never (dead-lettered as dl-000001)']);
    expect(g.leftovers()).toEqual(nothingLeft);
  });
});

describe('every dead letter is counted', () => {
  /** `sluice_dead_lettered_total` per route, as a scrape shows it. */
  async function counted(g: ReturnType<typeof gateway>): Promise<Record<string, number>> {
    const out: Record<string, number> = {};
    for (const m of (await g.metrics.text()).matchAll(/^sluice_dead_lettered_total\{route="([^"]+)"\} (\d+)$/gm)) out[m[1]!] = Number(m[2]);
    return out;
  }

  it('refused for no instance, failed after its attempts, poison, and fire-and-forget: each stored letter is counted once, per route', async () => {
    const stored: Array<{ route: string; model: string; code: string }> = [];
    const g = gateway({
      policies: {
        routes: {
          'gone.op': { deadLetter: true },
          'svc.op': { deadLetter: true, idempotent: true, retry: { maxAttempts: 2, initialDelayMs: 0, maxDelayMs: 0 }, breaker: { enabled: false } },
          'svc.log': { deadLetter: true, rateLimit: { ratePerSec: 0.001, burst: 1 } },
          'svc.watch': { deadLetter: true },
        },
      },
      deadLetter: async (l) => {
        stored.push({ route: l.route, model: l.model, code: l.error.code });
        return `dl-${stored.length}`;
      },
    });
    g.service('svc', 'svc-1', ['svc.op', 'svc.log', 'svc.watch'], (s) => {
      if (s.data === '"poison"') s.stream.error(failWith('POISON_MESSAGE'));
      else s.stream.error(failWith('UNAVAILABLE'));
    });
    const req = g.requester();
    await settle();
    const answers = [events(), events(), events(), events()];
    req.connection.requestResponse(request('gone.op', 1), answers[0]!); // NO_ROUTE at the door
    req.connection.requestResponse(request('svc.op', 2), answers[1]!); // UNAVAILABLE twice: attempts over
    req.connection.requestResponse(request('svc.op', 'poison'), answers[2]!); // POISON_MESSAGE
    req.connection.requestStream(request('svc.watch', 3), 4, answers[3]!); // a stream: never dead-lettered
    req.connection.fireAndForget(request('svc.log', 4)); // delivered (the burst)
    req.connection.fireAndForget(request('svc.log', 5)); // rate-limited: OVERLOADED, dead-lettered
    await eventually(() => stored.length === 4 && answers.every((a) => a.events.length > 0));
    expect(answers.map((a) => a.events)).toEqual([['error:NO_ROUTE'], ['error:UNAVAILABLE'], ['error:POISON_MESSAGE'], ['error:UNAVAILABLE']]);
    expect(answers.slice(0, 3).map((a) => a.messages[0])).toEqual([expect.stringMatching(/dead-lettered as dl-\d\)$/), expect.stringMatching(/dead-lettered as dl-\d\)$/), expect.stringMatching(/dead-lettered as dl-\d\)$/)]);
    expect(stored.map((l) => `${l.route} ${l.model} ${l.code}`).sort()).toEqual(['gone.op response NO_ROUTE', 'svc.log fnf OVERLOADED', 'svc.op response POISON_MESSAGE', 'svc.op response UNAVAILABLE']);
    const perRoute: Record<string, number> = {};
    for (const l of stored) perRoute[l.route] = (perRoute[l.route] ?? 0) + 1;
    expect(await counted(g)).toEqual(perRoute);
    expect(g.leftovers()).toEqual(nothingLeft);
  });

  it('a letter the queue refuses is not counted, and the requester is told it was not kept', async () => {
    const g = gateway({
      policies: { routes: { 'gone.op': { deadLetter: true } } },
      deadLetter: () => Promise.reject(new Error('dead-letter queue full (maxEntries=1)')),
    });
    const req = g.requester();
    await settle();
    const got = events();
    req.connection.requestResponse(request('gone.op', 1), got);
    await eventually(() => got.events.length > 0);
    expect(got.events).toEqual(['error:NO_ROUTE']);
    expect(got.messages[0]).toContain('not dead-lettered: dead-letter queue full');
    expect(await counted(g)).toEqual({});
  });
});

describe('metadata the gateway must write back', () => {
  /** Composite metadata: the route, a deadline, and an entry whose MIME type is a control character. */
  const hostile = (route: string): Payload => {
    const good = routeMetadata(route, [deadlineEntry(60_000)]);
    const bad = Uint8Array.of(0x00, 0x01, 0x00, 0x00, 0x01, 0x41);
    const metadata = new Uint8Array(good.length + bad.length);
    metadata.set(good);
    metadata.set(bad, good.length);
    return { data: new TextEncoder().encode('1'), metadata };
  };

  it('an entry whose MIME type cannot be re-encoded is INVALID_ARGUMENT at admission, and nothing is held', async () => {
    const g = gateway();
    const svc = g.service('svc', 'svc-1', ['svc.op']);
    const req = g.requester();
    await settle();
    const got = events();
    req.connection.requestResponse(hostile('svc.op'), got);
    await settle();
    expect(got.events).toEqual(['error:INVALID_ARGUMENT']);
    expect(svc.served).toHaveLength(0);
    expect(g.leftovers()).toEqual(nothingLeft);
  });

  it('an entry named like an unknown reserved id is written back as itself, never as a second routing entry ahead of the checked one', async () => {
    const g = gateway();
    const svc = g.service('svc', 'svc-1', ['svc.op', 'svc.secret']);
    const req = g.requester();
    await settle();
    const smuggled = { mimeType: 'unknown-well-known/0x7e', content: encodeRoutes('svc.secret') };
    // The smuggled entry first; the deadline makes the gateway re-encode the metadata.
    const metadata = encodeComposite([smuggled, { mimeType: MimeTypes.ROUTING, content: encodeRoutes('svc.op') }, deadlineEntry(60_000)]);
    req.connection.requestResponse({ data: new TextEncoder().encode('1'), metadata }, events());
    await settle();
    expect(svc.served).toHaveLength(1);
    expect(findRoute(svc.served[0]!.metadata)).toBe('svc.op');
    svc.served[0]!.stream.next({ data: new TextEncoder().encode('1'), metadata: null }, true);
    await settle();
    expect(g.leftovers()).toEqual(nothingLeft);
  });

  it('such a request waiting for a bulkhead slot does not take the process down when the slot comes', async () => {
    const escaped: unknown[] = [];
    const onEscape = (err: unknown) => void escaped.push(err);
    process.on('unhandledRejection', onEscape);
    try {
      const g = gateway({ policies: { routes: { 'svc.op': { bulkhead: { maxConcurrent: 1, maxQueue: 1, maxWaitMs: 60_000, maxPerIdentity: 2 } } } } });
      const svc = g.service('svc', 'svc-1', ['svc.op']);
      const req = g.requester();
      await settle();
      req.connection.requestResponse(request('svc.op', 1), events());
      await settle();
      const got = events();
      req.connection.requestResponse(hostile('svc.op'), got);
      await settle();
      svc.served[0]!.stream.next({ data: new TextEncoder().encode('1'), metadata: null }, true);
      await settle();
      await new Promise((r) => setImmediate(r));
      expect(escaped).toEqual([]);
      expect(got.events).toEqual(['error:INVALID_ARGUMENT']);
      expect(g.leftovers()).toEqual(nothingLeft);
    } finally {
      process.off('unhandledRejection', onEscape);
    }
  });
});

describe('fire-and-forget', () => {
  it('a flood into an instance that is not reading is shed, not buffered until its connection is cut', async () => {
    const g = gateway({ limits: { outboundHighWater: 4 * 1024, outboundHardLimit: 16 * 1024 } });
    const svc = g.service('svc', 'svc-1', ['svc.log']);
    const req = g.requester();
    await settle();
    // The service stops reading: what the gateway sends it stays in the gateway's buffers.
    svc.gatewayTransport.pause();
    const line = 'x'.repeat(1000);
    for (let i = 0; i < 40; i++) req.connection.fireAndForget(request('svc.log', line));
    await settle();
    expect(svc.gatewaySide.isOpen).toBe(true);
    expect(svc.gatewaySide.bufferedBytes).toBeLessThan(16 * 1024);
    svc.gatewayTransport.resume();
    await settle();
    expect(svc.fnf.length).toBeGreaterThan(0);
    expect(svc.fnf.length).toBeLessThan(40);
    expect(g.metrics.errorsOf('svc.log').get('OVERLOADED')).toBe(40 - svc.fnf.length);
  });
});

describe('bulkhead accounting', () => {
  it('a refusal by a bulkhead with no queue is counted like one by a full queue', async () => {
    const g = gateway({ policies: { routes: { 'svc.op': { bulkhead: { maxConcurrent: 1, maxQueue: 0 } } } } });
    const svc = g.service('svc', 'svc-1', ['svc.op']);
    // Two clients, so the second is refused by the bulkhead, not by its own share.
    const req = g.requester('a');
    const other = g.requester('b');
    await settle();
    req.connection.requestResponse(request('svc.op', 1), events());
    const refused = events();
    other.connection.requestResponse(request('svc.op', 2), refused);
    await settle();
    expect(refused.events).toEqual(['error:OVERLOADED']);
    expect(g.policies.for('svc.op').bulkhead.counters.rejected).toBe(1);
    svc.served[0]!.stream.next({ data: new TextEncoder().encode('1'), metadata: null }, true);
    await settle();
    expect(g.leftovers()).toEqual(nothingLeft);
  });
});

describe('what an interaction keeps', () => {
  it('the request it keeps for retries and dead letters is its own bytes, not a view pinning the transport\'s receive buffer', async () => {
    const g = gateway();
    g.service('svc', 'svc-1', ['svc.op']);
    await settle();
    // A transport that hands frames over as views into one large read buffer, as the TCP splitter does.
    let handler!: TransportHandler;
    const transport: FrameTransport = { bufferedBytes: 0, remoteAddress: 'test', start: (h) => void (handler = h), send: () => {}, close: () => {}, destroy: () => {} };
    const conn = ServerConnection.accept(transport, { accept: (_setup, c) => g.forwarder.responderFor(c) });
    const readBuffer = 1 << 20;
    const deliver = (frame: Uint8Array) => {
      const big = new Uint8Array(readBuffer);
      big.set(frame, 1000);
      handler.onFrame(big.subarray(1000, 1000 + frame.length));
    };
    deliver(encodeSetup({ keepAlive: 20_000, lifetime: 90_000, metadataMimeType: MimeTypes.COMPOSITE, dataMimeType: MimeTypes.JSON }));
    deliver(encodePayloadFrame(FrameType.REQUEST_STREAM, 1, 0, request('svc.op', 'x', [deadlineEntry(60_000)]), 1));
    await settle();
    const [interaction] = [...g.forwarder.live];
    const kept = (interaction as unknown as { request: { payload: Payload; entries: Array<{ content: Uint8Array }> } }).request;
    const pinned = [kept.payload.data, kept.payload.metadata, ...kept.entries.map((e) => e.content)].map((b) => b?.buffer.byteLength ?? 0);
    expect(Math.max(...pinned)).toBeLessThan(readBuffer);
    conn.close();
  });
});

describe('breakers and fallbacks', () => {
  it('with every breaker open and the fallback route not served, the answer is CIRCUIT_OPEN for the route called', async () => {
    const g = gateway({
      clock: () => 0,
      policies: { routes: { 'svc.op': { fallback: 'svc.backup', breaker: { windowSize: 1, minimumCalls: 1, failureRateThreshold: 1, openDurationMs: 1_000 } } } },
    });
    const svc = g.service('svc', 'svc-1', ['svc.op'], (s) => s.stream.error(failWith('INTERNAL')));
    const req = g.requester();
    await settle();
    req.connection.requestResponse(request('svc.op', 1), events());
    await settle();
    expect(g.policies.breakerState('svc.op')).toBe('open');
    const got = events();
    req.connection.requestResponse(request('svc.op', 2), got);
    await settle();
    expect(got.events).toEqual(['error:CIRCUIT_OPEN']);
    expect(got.messages[0]).toMatch(/^circuit open for route 'svc.op' on every instance; retry after \d+ ms$/);
    expect(g.policies.for('svc.op').counters.fallbacks).toBe(0);
    expect(svc.served).toHaveLength(1);
    expect(g.leftovers()).toEqual(nothingLeft);
  });
});

describe('what the requester is told about an instance', () => {
  it('an instance that sends more than was requested of it is named, as INTERNAL, not blamed on the requester', async () => {
    const g = gateway();
    g.service('svc', 'svc-1', ['svc.op'], (s) => {
      // Two payloads for one unit of demand: the second breaks the gateway's grant.
      for (const n of [1, 2]) s.stream.host.sendFrame(encodePayloadFrame(FrameType.PAYLOAD, s.stream.id, 0x20, { data: new TextEncoder().encode(String(n)), metadata: null }));
    });
    const req = g.requester();
    await settle();
    const got = events();
    req.connection.requestStream(request('svc.op', {}), 1, got);
    await eventually(() => got.events.some((e) => e.startsWith('error')));
    expect(got.events).toEqual(['next:1', 'error:INTERNAL']);
    expect(got.messages).toEqual(["instance 'svc-1' of service 'svc' sent more payloads than were requested of it"]);
    expect(g.leftovers()).toEqual(nothingLeft);
  });

  it('a request the instance connection refuses before sending is not judged by the breaker', async () => {
    const { g, svc, req } = await instanceAtStreamLimit();
    const breaker = g.policies.for('svc.op').breaker(svc.instance())!;
    const before = { ...breaker.counters };
    req.connection.requestStream(request('svc.op', 'b'), 1, events());
    await settle();
    expect(breaker.counters.successes).toBe(before.successes);
    expect(breaker.counters.failures).toBe(before.failures);
    svc.served[0]!.stream.complete();
    await settle();
    expect(g.leftovers()).toEqual(nothingLeft);
  });

  it('new work goes to an instance that keeps up with reading before a congested one, even a less loaded one', async () => {
    const g = gateway();
    const a = g.service('svc', 'svc-a', ['svc.op']);
    const b = g.service('svc', 'svc-b', ['svc.op']);
    const req = g.requester();
    await settle();
    req.connection.requestStream(request('svc.op', 'first'), 1, events());
    await settle();
    const [busy, idle] = a.served.length === 1 ? [a, b] : [b, a];
    // The idle instance stops reading its socket: by load it would be picked next, but it is congested.
    idle.gatewayTransport.setBufferedBytes(2 * 1024 * 1024);
    for (let i = 0; i < 3; i++) req.connection.requestStream(request('svc.op', i), 1, events());
    await settle();
    expect(busy.served).toHaveLength(4);
    expect(idle.served).toHaveLength(0);
  });
});

describe('prefetch: items asked ahead of the requester', () => {
  const item = (s: string): Payload => ({ data: new TextEncoder().encode(s), metadata: null });

  /** A gateway asking ahead, one service, and a requester's stream opened with `n`; `up` is the service's side of it. */
  async function opened(n: number) {
    const g = gateway({ prefetch: 256 });
    const svc = g.service('svc', 'svc-1', ['svc.op']);
    const req = g.requester();
    await settle();
    const got = events();
    const stream = req.connection.requestStream(request('svc.op', 'x'), n, got);
    await settle();
    requesterTransports.set(g, req.gatewayTransport);
    return { g, svc, got, stream, up: svc.served[0]!.stream };
  }

  const requesterTransports = new WeakMap<object, { sent: Uint8Array[] }>();

  /** The PAYLOAD frames the gateway wrote to the requester of `opened` on stream `id`, as written. */
  function requesterFrames(g: object, id: number): Uint8Array[] {
    const isPayloadOn = (f: Uint8Array) => f[4]! >> 2 === FrameType.PAYLOAD && ((f[0]! << 24) | (f[1]! << 16) | (f[2]! << 8) | f[3]!) === id;
    return requesterTransports.get(g)!.sent.filter(isPayloadOn);
  }

  it('asks ahead as many as the first request, holds what arrives early, and hands it over in order on demand', async () => {
    const { g, got, stream, up } = await opened(2);
    expect(up.sendCredit).toBe(4);
    for (const s of ['1', '2', '3', '4']) up.next(item(s));
    await settle();
    expect(got.events).toEqual(['next:1', 'next:2']);
    expect(g.forwarder.prefetchBudget.held).toBe(g.leftovers().prefetchHeldBytes);
    expect(g.forwarder.prefetchBudget.held).toBeGreaterThan(0);
    // Demand is met from what is held first; the producer is asked for what that frees, no more.
    stream.request(1);
    await settle();
    expect(got.events).toEqual(['next:1', 'next:2', 'next:3']);
    expect(up.sendCredit).toBe(1);
    stream.request(3);
    await settle();
    expect(got.events).toEqual(['next:1', 'next:2', 'next:3', 'next:4']);
    // One held for a request of 3: the requester waits on the producer, so the stream asks twice as far
    // ahead. Owed 2, plus 4 ahead.
    expect(up.sendCredit).toBe(6);
    stream.cancel();
    await settle();
    expect(g.leftovers()).toEqual(nothingLeft);
  });

  it('any interleaving of items and demand: every item relayed once, in order, byte for byte what encoding its payload would send, never beyond demand', async () => {
    const payload = fc.record({ data: fc.uint8Array({ maxLength: 200 }), metadata: fc.option(fc.uint8Array({ maxLength: 40 }), { nil: null }) });
    const step = fc.oneof(fc.record({ produce: fc.array(payload, { minLength: 1, maxLength: 12 }) }), fc.record({ request: fc.integer({ min: 1, max: 6 }) }));
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 16 }), fc.array(step, { maxLength: 40 }), async (n, steps) => {
        const { g, got, stream, up } = await opened(n);
        const sentToRequester = () => requesterFrames(g, stream.id);
        const produced: Payload[] = [];
        let requested = n;
        for (const s of steps) {
          if ('produce' in s) {
            // The producer sends what the gateway asked of it and no more (the engine would throw).
            for (const p of s.produce.slice(0, up.sendCredit)) {
              up.next(p);
              produced.push(p);
            }
          } else {
            stream.request(s.request);
            requested += s.request;
          }
          await settle();
          expect(got.events.filter((e) => e.startsWith('error'))).toEqual([]);
          expect(sentToRequester().length).toBe(Math.min(requested, produced.length));
        }
        // Drain what is held, then compare every relayed frame with what encoding its payload afresh gives.
        stream.request(produced.length + 1);
        await settle();
        const frames = sentToRequester();
        const hex = (f: Uint8Array) => Buffer.from(f.buffer, f.byteOffset, f.length).toString('hex');
        expect(frames.map(hex)).toEqual(produced.map((p) => hex(encodePayloadFrame(FrameType.PAYLOAD, stream.id, Flags.NEXT, p))));
        expect(g.leftovers().prefetchHeldBytes).toBe(0);
        stream.cancel();
        await settle();
        expect(g.leftovers()).toEqual(nothingLeft);
      }),
      { numRuns: 150 },
    );
  });

  it('a producer that completes with items held: the requester gets every item, then the completion, as it asks', async () => {
    const { g, got, stream, up } = await opened(1);
    up.next(item('1'));
    up.next(item('2'));
    up.complete();
    await settle();
    expect(got.events).toEqual(['next:1']);
    expect(g.leftovers().live).toBe(1);
    stream.request(1);
    await settle();
    expect(got.events).toEqual(['next:1', 'next:2', 'complete']);
    expect(g.leftovers()).toEqual(nothingLeft);
  });

  it('a producer that fails with items held: the requester hears the error at once, and the held items are freed', async () => {
    const { g, got, up } = await opened(1);
    up.next(item('1'));
    up.next(item('2'));
    up.error(failWith('INTERNAL'));
    await settle();
    expect(got.events).toEqual(['next:1', 'error:INTERNAL']);
    expect(g.leftovers()).toEqual(nothingLeft);
  });

  it('a requester that cancels with items held frees them and cancels the producer', async () => {
    const { g, svc, stream, up } = await opened(3);
    for (const s of ['1', '2', '3', '4', '5', '6']) up.next(item(s));
    await settle();
    expect(g.leftovers().prefetchHeldBytes).toBeGreaterThan(0);
    stream.cancel();
    await settle();
    expect(svc.served[0]!.handler.events).toEqual(['cancel']);
    expect(g.leftovers()).toEqual(nothingLeft);
  });

  it('while the gateway-wide budget of held bytes is spent, streams ask for no more than their requesters', async () => {
    const g = gateway({ prefetch: 256, prefetchBudgetBytes: 1 });
    const svc = g.service('svc', 'svc-1', ['svc.op']);
    const req = g.requester();
    await settle();
    const first = req.connection.requestStream(request('svc.op', 'a'), 1, events());
    await settle();
    const upA = svc.served[0]!.stream;
    expect(upA.sendCredit).toBe(2);
    upA.next(item('1'));
    upA.next(item('2'));
    await settle();
    // One item held: the budget (1 byte) is spent, so a new stream gets pass-through demand only...
    req.connection.requestStream(request('svc.op', 'b'), 5, events());
    await settle();
    expect(svc.served[1]!.stream.sendCredit).toBe(5);
    // ...until the held item is handed over and the budget has room again.
    first.request(1);
    await settle();
    expect(g.leftovers().prefetchHeldBytes).toBe(0);
    expect(upA.sendCredit).toBe(1);
    // The 4 asked for, plus 2 ahead: nothing was held for this request, so the 1 asked ahead doubled.
    first.request(4);
    await settle();
    expect(upA.sendCredit).toBe(6);
    g.close();
  });

  it('request-response is never held: one answer, delivered at once', async () => {
    const g = gateway({ prefetch: 256 });
    const svc = g.service('svc', 'svc-1', ['svc.op']);
    const req = g.requester();
    await settle();
    const got = events();
    req.connection.requestResponse(request('svc.op', 'x'), got);
    await settle();
    svc.served[0]!.stream.next(item('answer'), true);
    await settle();
    expect(got.events).toEqual(['next:answer', 'complete']);
    expect(g.leftovers()).toEqual(nothingLeft);
  });
});

describe('per-identity shares of a route', () => {
  const shared = { 'svc.op': { bulkhead: { maxConcurrent: 4, maxQueue: 4, maxWaitMs: 60_000, maxPerIdentity: 2 } } };

  it('an identity at its share is refused OVERLOADED naming the share, while another identity is served', async () => {
    const g = gateway({ policies: { routes: shared } });
    const svc = g.service('svc', 'svc-1', ['svc.op']);
    const greedy = g.requester('greedy');
    const polite = g.requester('polite');
    await settle();
    for (const n of [1, 2]) greedy.connection.requestStream(request('svc.op', n), 1, events());
    const refused = events();
    greedy.connection.requestStream(request('svc.op', 3), 1, refused);
    await settle();
    expect(refused.events).toEqual(['error:OVERLOADED']);
    expect(refused.messages).toEqual(["this client already has its share of 2 concurrent interactions on route 'svc.op' (bulkhead.maxPerIdentity)"]);
    const rt = g.policies.for('svc.op');
    expect(rt.share.rejected).toBe(1);
    // The refusal took no slot and never waited: the bulkhead still has room for others.
    expect(rt.bulkhead.active).toBe(2);
    expect(rt.bulkhead.counters.rejected).toBe(0);
    const served = events();
    polite.connection.requestStream(request('svc.op', 'p'), 1, served);
    await settle();
    expect(svc.served.map((s) => s.data)).toEqual(['1', '2', '"p"']);
    for (const s of svc.served) s.stream.complete();
    await settle();
    expect(served.events).toEqual(['complete']);
    expect(g.leftovers()).toEqual(nothingLeft);
  });

  it('waiting for a slot counts against the share, and a finished interaction gives its place back', async () => {
    const g = gateway({ policies: { routes: { 'svc.op': { bulkhead: { maxConcurrent: 1, maxQueue: 4, maxWaitMs: 60_000, maxPerIdentity: 2 } } } } });
    const svc = g.service('svc', 'svc-1', ['svc.op']);
    const req = g.requester('one');
    await settle();
    req.connection.requestStream(request('svc.op', 1), 1, events());
    req.connection.requestStream(request('svc.op', 2), 1, events());
    const refused = events();
    req.connection.requestStream(request('svc.op', 3), 1, refused);
    await settle();
    const rt = g.policies.for('svc.op');
    expect(rt.bulkhead.queued).toBe(1);
    expect(refused.events).toEqual(['error:OVERLOADED']);
    svc.served[0]!.stream.complete();
    await settle();
    // The queued one got the slot; the identity holds 1 of its 2 again and may send another.
    expect(rt.share.heldBy('user:one')).toBe(1); // the identity the gateway reads from SETUP's simple authentication
    const later = events();
    req.connection.requestStream(request('svc.op', 4), 1, later);
    await settle();
    expect(rt.bulkhead.queued).toBe(1);
    svc.served[1]!.stream.complete();
    await settle();
    svc.served[2]!.stream.complete();
    await settle();
    expect(later.events).toEqual(['complete']);
    expect(svc.served.map((s) => s.data)).toEqual(['1', '2', '4']);
    expect(g.leftovers()).toEqual(nothingLeft);
  });

  it('a refusal by its share is never dead-lettered, even on a dead-lettering route', async () => {
    const letters: string[] = [];
    const g = gateway({
      policies: { routes: { 'svc.op': { deadLetter: true, bulkhead: { maxConcurrent: 2, maxQueue: 0, maxPerIdentity: 1 } } } },
      deadLetter: async (l) => {
        letters.push(l.route);
        return 'dl-1';
      },
    });
    const svc = g.service('svc', 'svc-1', ['svc.op']);
    const req = g.requester('one');
    await settle();
    req.connection.requestResponse(request('svc.op', 1), events());
    const refused = events();
    req.connection.requestResponse(request('svc.op', 2), refused);
    await settle();
    expect(refused.events).toEqual(['error:OVERLOADED']);
    expect(refused.messages[0]).not.toContain('dead-lettered');
    expect(letters).toEqual([]);
    svc.served[0]!.stream.next({ data: new TextEncoder().encode('1'), metadata: null }, true);
    await settle();
    expect(g.leftovers()).toEqual(nothingLeft);
  });
});

describe('what a breaker judges: the instance, never the requester', () => {
  const tight = { windowSize: 2, minimumCalls: 2, failureRateThreshold: 0.5, openDurationMs: 60_000 };

  it("expiry of a requester's own shorter deadline, or the instance honouring it, leaves the breaker unjudged", async () => {
    vi.useFakeTimers();
    const g = gateway({ policies: { routes: { 'svc.op': { deadlineMs: 10_000, breaker: tight } } } });
    const svc = g.service('svc', 'svc-1', ['svc.op']);
    const req = g.requester();
    await settle();
    const expired: Events[] = [];
    for (let i = 0; i < 5; i++) {
      const got = events();
      expired.push(got);
      req.connection.requestResponse(request('svc.op', i, [deadlineEntry(1)]), got);
    }
    await settle();
    await vi.advanceTimersByTimeAsync(5);
    await settle();
    for (const got of expired) expect(got.events).toEqual(['error:DEADLINE_EXCEEDED']);
    // The instance answers DEADLINE_EXCEEDED itself when the forwarded deadline passes at its end.
    const echoed = events();
    req.connection.requestResponse(request('svc.op', 'e', [deadlineEntry(50)]), echoed);
    await settle();
    svc.served.at(-1)!.stream.error(failWith('DEADLINE_EXCEEDED', 'deadline of 50 ms passed'));
    await settle();
    expect(echoed.events).toEqual(['error:DEADLINE_EXCEEDED']);
    const breaker = g.policies.for('svc.op').breaker(svc.instance())!;
    expect(breaker.counters.failures).toBe(0);
    expect(breaker.state).toBe('closed');
    const ok = events();
    req.connection.requestResponse(request('svc.op', 'ok'), ok);
    await settle();
    svc.served.at(-1)!.stream.next({ data: new TextEncoder().encode('"ok"'), metadata: null }, true);
    await settle();
    expect(ok.events).toEqual(['next:"ok"', 'complete']);
    expect(g.leftovers()).toEqual(nothingLeft);
  });

  it("expiry of the route policy's deadline counts against the instance, also when the requester's deadline is equal or longer", async () => {
    vi.useFakeTimers();
    const g = gateway({ policies: { routes: { 'svc.op': { deadlineMs: 100, breaker: tight } } } });
    const svc = g.service('svc', 'svc-1', ['svc.op']);
    const req = g.requester();
    await settle();
    const a = events();
    const b = events();
    req.connection.requestResponse(request('svc.op', 'a', [deadlineEntry(100)]), a);
    req.connection.requestResponse(request('svc.op', 'b', [deadlineEntry(5_000)]), b);
    await settle();
    await vi.advanceTimersByTimeAsync(150);
    await settle();
    expect(a.events).toEqual(['error:DEADLINE_EXCEEDED']);
    expect(b.events).toEqual(['error:DEADLINE_EXCEEDED']);
    const breaker = g.policies.for('svc.op').breaker(svc.instance())!;
    expect(breaker.counters.failures).toBe(2);
    expect(breaker.state).toBe('open');
    const refused = events();
    req.connection.requestResponse(request('svc.op', 'c'), refused);
    await settle();
    expect(refused.events).toEqual(['error:CIRCUIT_OPEN']);
    expect(g.leftovers()).toEqual(nothingLeft);
  });

  it("an instance's DEADLINE_EXCEEDED under the policy's deadline counts against it", async () => {
    const g = gateway({ policies: { routes: { 'svc.op': { deadlineMs: 60_000, breaker: tight } } } });
    const svc = g.service('svc', 'svc-1', ['svc.op'], (s) => s.stream.error(failWith('DEADLINE_EXCEEDED')));
    const req = g.requester();
    await settle();
    for (const n of [1, 2]) req.connection.requestResponse(request('svc.op', n), events());
    await settle();
    const breaker = g.policies.for('svc.op').breaker(svc.instance())!;
    expect(breaker.counters.failures).toBe(2);
    expect(breaker.state).toBe('open');
    expect(g.leftovers()).toEqual(nothingLeft);
  });

  it("a half-open probe ended by the requester's own deadline frees the probe slot without closing or re-opening", async () => {
    vi.useFakeTimers();
    let now = 0;
    const g = gateway({
      clock: () => now,
      policies: { routes: { 'svc.op': { breaker: { windowSize: 1, minimumCalls: 1, failureRateThreshold: 1, openDurationMs: 1_000, halfOpenMaxCalls: 1 } } } },
    });
    const svc = g.service('svc', 'svc-1', ['svc.op']);
    const req = g.requester();
    await settle();
    req.connection.requestResponse(request('svc.op', 1), events());
    await settle();
    svc.served[0]!.stream.error(failWith('INTERNAL'));
    await settle();
    expect(g.policies.breakerState('svc.op')).toBe('open');
    now = 1_000;
    const probe = events();
    req.connection.requestResponse(request('svc.op', 2, [deadlineEntry(1)]), probe);
    await settle();
    await vi.advanceTimersByTimeAsync(5);
    await settle();
    expect(probe.events).toEqual(['error:DEADLINE_EXCEEDED']);
    expect(g.policies.breakerState('svc.op')).toBe('half-open');
    await expectThirdCallClosesBreaker(g, svc, req);
  });
});

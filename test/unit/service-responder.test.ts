/**
 * The service responder (route table -> RSocket responder) on in-memory
 * transports: a handler's result that cannot travel ends its stream with a
 * coded error for the requester; it never escapes into the process (an
 * uncaught exception or an unhandled rejection would kill the service); a
 * request-response handler answers once, however it answers, and gives its
 * slot back.
 */
import { of } from 'rxjs';
import { describe, expect, it, vi } from 'vitest';
import { SluiceError } from '../../src/errors.js';
import { deadlineEntry } from '../../src/resilience/deadline.js';
import { MimeTypes } from '../../src/protocol/metadata.js';
import { Connection, refusingResponder } from '../../src/rsocket/connection.js';
import { ServerConnection } from '../../src/rsocket/server-connection.js';
import { createServiceResponder } from '../../src/service/responder.js';
import type { RouteTable } from '../../src/service/handlers.js';
import { silentLogger } from '../../src/observability/log.js';
import { events, request } from '../helpers/memory-gateway.js';
import { memoryPair, settle } from '../helpers/memory-transport.js';
import { trackEscapes } from '../helpers/escapes.js';

const MIME = { metadataMimeType: MimeTypes.COMPOSITE, dataMimeType: MimeTypes.JSON };

/** Errors that escaped to the process while a test ran. */
const { escaped, cleanups } = trackEscapes();

/** A requester connection facing a service responder serving `routes`. */
function serve(routes: RouteTable) {
  const [ct, st] = memoryPair();
  const service = ServerConnection.accept(st, { accept: () => createServiceResponder(routes, silentLogger) });
  const requester = Connection.connect(ct, MIME, refusingResponder);
  cleanups.push(() => {
    requester.close();
    service.close();
  });
  return requester;
}

/** Lets timers queued by the code under test (RxJS reports unhandled errors from one) run. */
const turn = () => new Promise((r) => setTimeout(r, 0));

describe('results that cannot be encoded as JSON', () => {
  it('a request-response answer ends its call with INTERNAL', async () => {
    const requester = serve({ 'svc.op': { requestResponse: () => ({ id: 1n }) } });
    const got = events();
    requester.requestResponse(request('svc.op', 1), got);
    await settle();
    await turn();
    await settle();
    expect(escaped).toEqual([]);
    expect(got.events).toEqual(['error:INTERNAL']);
  });

  it('an Observable stream item ends the stream with INTERNAL', async () => {
    const requester = serve({ 'svc.op': { requestStream: () => of({ n: 1 }, { n: 2n }) } });
    const got = events();
    requester.requestStream(request('svc.op', 1), 10, got);
    await settle();
    await turn();
    await settle();
    expect(escaped).toEqual([]);
    expect(got.events).toEqual(['next:{"n":1}', 'error:INTERNAL']);
  });
});

describe('a deadline after the work is done', () => {
  it.each([
    ['an AsyncIterable', () => (async function* () {
      yield 1;
    })()],
    ['an Observable', () => of(1)],
  ])('a stream (%s) that completed holds no deadline timer, and its signal is not aborted later', async (_what, result) => {
    vi.useFakeTimers();
    try {
      let signal: AbortSignal | undefined;
      const requester = serve({
        'svc.op': {
          requestStream: (_data, ctx) => {
            signal = ctx.signal;
            return result();
          },
        },
      });
      await settle();
      const timers = vi.getTimerCount();
      const got = events();
      requester.requestStream(request('svc.op', 1, [deadlineEntry(3_600_000)]), 10, got);
      await settle();
      await vi.advanceTimersByTimeAsync(0);
      await settle();
      expect(got.events).toEqual(['next:1', 'complete']);
      expect(vi.getTimerCount()).toBe(timers);
      await vi.advanceTimersByTimeAsync(3_600_000);
      expect(signal?.aborted).toBe(false);
    } finally {
      vi.useRealTimers();
    }
  });
});

describe('request-response handlers', () => {
  /** A requester facing a responder whose in-flight count the test can read. */
  function serveCounted(routes: RouteTable) {
    const [ct, st] = memoryPair();
    const responder = createServiceResponder(routes, silentLogger);
    const service = ServerConnection.accept(st, { accept: () => responder });
    const requester = Connection.connect(ct, MIME, refusingResponder);
    cleanups.push(() => {
      requester.close();
      service.close();
    });
    return { requester, responder };
  }

  const routes: RouteTable = {
    'svc.sync': { requestResponse: (d: unknown) => ({ got: d }) },
    'svc.async': { requestResponse: async (d: unknown) => ({ later: d }) },
    'svc.throws': {
      requestResponse: () => {
        throw new SluiceError('INVALID_ARGUMENT', 'no');
      },
    },
    'svc.rejects': { requestResponse: () => Promise.reject(new SluiceError('UNAVAILABLE', 'later no')) },
    'svc.undefined': { requestResponse: () => undefined },
    // Foreign thenables: a `then` that throws, a `then` getter that throws, one that calls back twice.
    'svc.then-throws': {
      requestResponse: () => ({
        then() {
          throw new SluiceError('UNAVAILABLE', 'then threw');
        },
      }),
    },
    'svc.then-getter-throws': {
      requestResponse: () => ({
        get then(): never {
          throw new SluiceError('UNAVAILABLE', 'getter threw');
        },
      }),
    },
    'svc.then-twice': {
      requestResponse: () => ({
        then(ok: (v: unknown) => void, fail: (e: unknown) => void) {
          ok({ first: true });
          fail(new SluiceError('UNAVAILABLE', 'second'));
          ok({ third: true });
        },
      }),
    },
  };

  it.each([
    ['a value returned at once', 'svc.sync', ['next:{"got":7}', 'complete']],
    ['a promise of a value', 'svc.async', ['next:{"later":7}', 'complete']],
    ['a thrown coded error', 'svc.throws', ['error:INVALID_ARGUMENT']],
    ['a rejected promise', 'svc.rejects', ['error:UNAVAILABLE']],
    ['undefined (empty data)', 'svc.undefined', ['next:', 'complete']],
    ['a thenable whose then throws', 'svc.then-throws', ['error:UNAVAILABLE']],
    ['a thenable whose then getter throws', 'svc.then-getter-throws', ['error:UNAVAILABLE']],
    ['a thenable that calls back three times', 'svc.then-twice', ['next:{"first":true}', 'complete']],
  ])('%s answers the requester once and gives its slot back', async (_name, route, expected) => {
    const { requester, responder } = serveCounted(routes);
    const got = events();
    requester.requestResponse(request(route, 7), got);
    await settle();
    await turn();
    await settle();
    expect(got.events).toEqual(expected);
    expect(responder.inFlight).toBe(0);
    expect(escaped).toEqual([]);
  });

  it('a burst of requests on two connections runs each handler once, in arrival order, and answers each its own', async () => {
    const seen: unknown[] = [];
    const burstRoutes: RouteTable = {
      'svc.order': {
        requestResponse: (d: unknown) => {
          seen.push(d);
          if ((d as number) % 3 === 2) throw new Error('every third fails');
          return { echo: d };
        },
      },
    };
    const a = serveCounted(burstRoutes);
    const b = serveCounted(burstRoutes);
    const got = Array.from({ length: 60 }, () => events());
    // Sent in one turn: each side's requests arrive together, as from one read of the socket.
    for (let i = 0; i < 60; i++) (i % 2 === 0 ? a : b).requester.requestResponse(request('svc.order', i), got[i]!);
    await settle();
    await turn();
    await settle();
    expect([...seen].sort((x, y) => (x as number) - (y as number))).toEqual(Array.from({ length: 60 }, (_, i) => i));
    // Within a connection, handlers ran in the order its requests arrived.
    expect(seen.filter((d) => (d as number) % 2 === 0)).toEqual(Array.from({ length: 30 }, (_, i) => 2 * i));
    expect(seen.filter((d) => (d as number) % 2 === 1)).toEqual(Array.from({ length: 30 }, (_, i) => 2 * i + 1));
    got.forEach((g, i) => expect(g.events).toEqual(i % 3 === 2 ? ['error:INTERNAL'] : [`next:{"echo":${i}}`, 'complete']));
    expect(a.responder.inFlight + b.responder.inFlight).toBe(0);
    expect(escaped).toEqual([]);
  });

  it('a cancel before the handler answers sends nothing and gives the slot back when it does', async () => {
    let answer: (v: unknown) => void = () => {};
    const { requester, responder } = serveCounted({ 'svc.slow': { requestResponse: () => new Promise((r) => (answer = r)) } });
    const got = events();
    const stream = requester.requestResponse(request('svc.slow', 1), got);
    await settle();
    expect(responder.inFlight).toBe(1);
    stream.cancel();
    await settle();
    answer({ late: true });
    await settle();
    await turn();
    expect(got.events).toEqual([]);
    expect(responder.inFlight).toBe(0);
  });
});

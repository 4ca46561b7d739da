/**
 * sluice.stats on an in-memory stream host: the subscription owns a timer
 * only while it has demand, and none after cancel.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { statsRoute } from '../../src/broker/stats-route.js';
import { silentLogger } from '../../src/observability/log.js';
import type { StatsSource } from '../../src/observability/stats.js';
import { encodeJson } from '../../src/protocol/json.js';
import { Stream, type StreamHost } from '../../src/rsocket/stream.js';

const source: StatsSource = {
  routes: () => ['a.route'],
  live: () => [],
  localInFlight: () => new Map(),
  counters: () => [],
  errorsOf: () => new Map(),
  routesWithErrors: () => [],
  instances: () => [],
  connections: () => ({ client: 0, service: 0 }),
  breaker: () => 'closed',
};

function open(n: number, route = statsRoute({ source, counters: () => ({ route: 'sluice.stats', toRequester: 0, toResponder: 0 }), log: silentLogger })) {
  const frames: Uint8Array[] = [];
  const host: StreamHost = { sendFrame: (f) => frames.push(f), release: () => {}, writable: true, whenWritable: () => () => {} };
  const stream = new Stream(2, 'stream', 'responder', host);
  stream.sendCredit = n;
  stream.handler = route.requestStream!({ data: encodeJson({ intervalMs: 100 }), metadata: null }, stream);
  return { stream, route, frames };
}

describe('sluice.stats route', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('arms a timer only while there is demand', () => {
    const { stream, route, frames } = open(2);
    expect(vi.getTimerCount()).toBe(1);
    vi.advanceTimersByTime(100);
    expect(route.produced).toBe(1);
    vi.advanceTimersByTime(100);
    expect(route.produced).toBe(2);
    expect(frames).toHaveLength(2);
    // Credit spent: no timer at all, however long we wait.
    expect(vi.getTimerCount()).toBe(0);
    vi.advanceTimersByTime(10_000);
    expect(route.produced).toBe(2);

    stream.receiveRequestN(1);
    expect(vi.getTimerCount()).toBe(1);
    // The last snapshot was long ago: the next one goes at once.
    vi.advanceTimersByTime(0);
    expect(route.produced).toBe(3);
    expect(route.subscribers).toBe(1);
  });

  it('refuses subscriptions over its cap with OVERLOADED and a bad interval with INVALID_ARGUMENT', () => {
    const route = statsRoute({ source, counters: () => ({ route: 'sluice.stats', toRequester: 0, toResponder: 0 }), log: silentLogger, maxSubscribers: 1 });
    open(1, route);
    expect(() => open(1, route)).toThrow(expect.objectContaining({ code: 'OVERLOADED' }));
    const fresh = statsRoute({ source, counters: () => ({ route: 'sluice.stats', toRequester: 0, toResponder: 0 }), log: silentLogger });
    const stream = new Stream(4, 'stream', 'responder', { sendFrame: () => {}, release: () => {}, writable: true, whenWritable: () => () => {} });
    expect(() => fresh.requestStream!({ data: encodeJson({ intervalMs: 99 }), metadata: null }, stream)).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
    expect(fresh.subscribers).toBe(0);
  });

  it('clears its timer and frees its slot on cancel', () => {
    const { stream, route } = open(1000);
    vi.advanceTimersByTime(250);
    expect(route.produced).toBe(2);
    stream.receiveCancel();
    expect(vi.getTimerCount()).toBe(0);
    expect(route.subscribers).toBe(0);
    vi.advanceTimersByTime(1_000);
    expect(route.produced).toBe(2);
  });
});

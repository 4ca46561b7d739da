import { describe, expect, it } from 'vitest';
import { DemandBridge } from '../../src/flow/demand-bridge.js';
import { PrefetchBudget } from '../../src/flow/prefetch-budget.js';
import { MemoryBudget, type MemoryHolder } from '../../src/rsocket/memory-budget.js';
import { MAX_REQUEST_N } from '../../src/protocol/frames.js';

/** Small seeded PRNG (mulberry32) so every failure replays. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function harness(window: number, windowBytes?: number, extra: { prefetch?: number; budget?: PrefetchBudget; maxItemBytes?: number; memory?: MemoryHolder } = {}) {
  const upstream: number[] = [];
  let writable = true;
  const waiters = new Set<() => void>();
  let registrations = 0;
  const bridge = new DemandBridge({
    window,
    ...(windowBytes === undefined ? {} : { windowBytes }),
    ...extra,
    requestUpstream: (n) => upstream.push(n),
    writable: () => writable,
    whenWritable: (fn) => {
      registrations++;
      waiters.add(fn);
      return () => waiters.delete(fn);
    },
  });
  return {
    bridge,
    upstream,
    waiters,
    get registrations() {
      return registrations;
    },
    get writable() {
      return writable;
    },
    /** The consumer's connection congests or drains; draining wakes the waiters like Connection does. */
    setWritable(v: boolean) {
      writable = v;
      if (!v) return;
      const ws = [...waiters];
      waiters.clear();
      for (const w of ws) w();
    },
  };
}

describe('DemandBridge', () => {
  it('refuses a window that is not a positive integer', () => {
    for (const window of [0, -1, 1.5, NaN]) {
      expect(() => harness(window)).toThrow(new RangeError('window must be a positive integer'));
    }
  });

  it('open() asks for the consumer demand up to the window, at least 1', () => {
    expect(harness(128).bridge.open(8)).toBe(8);
    expect(harness(128).bridge.open(500)).toBe(128);
    const unbounded = harness(128);
    expect(unbounded.bridge.open(MAX_REQUEST_N)).toBe(128);
    expect(unbounded.bridge.credit).toBe(Infinity);
    expect(unbounded.bridge.inflight).toBe(128);
    expect(harness(128).bridge.open(0)).toBe(1);
    expect(harness(1).bridge.open(10)).toBe(1);
  });

  it('open() while the consumer is congested asks for only the 1 item RSocket requires', () => {
    const h = harness(128);
    h.setWritable(false);
    expect(h.bridge.open(50)).toBe(1);
    expect([h.bridge.credit, h.bridge.inflight]).toEqual([50, 1]);
  });

  it('passes demand through below the window: request 1 -> upstream 1', () => {
    const h = harness(128);
    expect(h.bridge.open(1)).toBe(1);
    for (let i = 0; i < 10; i++) {
      h.bridge.onItem();
      expect(h.upstream).toEqual(Array(i).fill(1));
      h.bridge.onRequest(1);
      expect(h.upstream).toEqual(Array(i + 1).fill(1));
    }
    const h2 = harness(128);
    h2.bridge.open(5);
    h2.bridge.onItem();
    h2.bridge.onRequest(2);
    expect(h2.upstream).toEqual([2]);
    expect(h2.bridge.inflight).toBe(6);
  });

  it('beyond the window, tops up in batches of at least window / 2', () => {
    const h = harness(8);
    expect(h.bridge.open(MAX_REQUEST_N)).toBe(8);
    for (let i = 0; i < 3; i++) h.bridge.onItem();
    expect(h.upstream).toEqual([]);
    h.bridge.onItem();
    expect(h.upstream).toEqual([4]);
    for (let i = 0; i < 100; i++) h.bridge.onItem();
    expect(h.upstream.every((n) => n === 4)).toBe(true);
    expect(h.bridge.inflight).toBeLessThanOrEqual(8);
    expect(h.bridge.inflight).toBeGreaterThan(4);
  });

  it('a finite demand beyond the window ends with exactly what the consumer asked for', () => {
    const h = harness(8);
    let total = h.bridge.open(21);
    while (h.bridge.inflight > 0) {
      h.bridge.onItem();
      total += h.upstream.splice(0).reduce((a, b) => a + b, 0);
    }
    expect(total).toBe(21);
    expect(h.bridge.credit).toBe(0);
  });

  it('asks for nothing while the consumer is congested and resumes when it drains', () => {
    const h = harness(4);
    h.bridge.open(10);
    h.setWritable(false);
    for (let i = 0; i < 4; i++) h.bridge.onItem();
    h.bridge.onRequest(5);
    expect(h.upstream).toEqual([]);
    expect(h.bridge.inflight).toBe(0);
    // One waiter, however many items and requests arrived meanwhile.
    expect([h.waiters.size, h.registrations]).toEqual([1, 1]);
    h.setWritable(true);
    expect(h.upstream).toEqual([4]);
    expect(h.bridge.inflight).toBe(4);
  });

  it('stop() cancels the pending wake-up and nothing is requested afterwards', () => {
    const h = harness(4);
    h.bridge.open(10);
    h.setWritable(false);
    h.bridge.onItem();
    h.bridge.onItem();
    expect(h.waiters.size).toBe(1);
    h.bridge.stop();
    expect(h.waiters.size).toBe(0);
    h.setWritable(true);
    h.bridge.onRequest(100);
    h.bridge.onItem();
    expect(h.upstream).toEqual([]);
  });

  it('without windowBytes the window is the item count, whatever the item sizes', () => {
    const h = harness(64);
    h.bridge.open(MAX_REQUEST_N);
    h.bridge.onItem(10 * 1024 * 1024);
    expect(h.bridge.window).toBe(64);
  });

  it('with windowBytes the window starts at the item count, exactly, for any sizes', () => {
    for (let window = 1; window <= 600; window++) {
      for (const windowBytes of [1_000, 1_024, 4_097, 65_537, 777_777, 512 * 1024, 1_000_000]) {
        expect(harness(window, windowBytes).bridge.window, `window ${window}, ${windowBytes} bytes`).toBe(window);
      }
    }
  });

  it('with windowBytes the window follows the average item size, never below 1 item', () => {
    const h = harness(512, 512 * 1024);
    expect(h.bridge.open(MAX_REQUEST_N)).toBe(512);
    h.bridge.onItem(64 * 1024);
    expect(h.bridge.window).toBe(8);
    // Nothing more is asked while 511 are in flight and the window is 8.
    expect(h.upstream).toEqual([]);
    for (let i = 0; i < 16; i++) h.bridge.onItem(2 * 1024 * 1024);
    expect(h.bridge.window).toBe(1);
    // Small items again: the average comes down over about 16 items.
    const before = h.bridge.window;
    for (let i = 0; i < 100; i++) h.bridge.onItem(100);
    expect(h.bridge.window).toBeGreaterThan(before);
    expect(h.bridge.window).toBeLessThanOrEqual(512);
  });

  it.each([
    ['items only', false],
    ['items and bytes', true],
  ])('keeps inflight <= min(credit, window) under random requests, items and congestion (%s)', (_name, bytes) => {
    let checks = 0;
    for (let run = 0; run < 300; run++) {
      const rand = prng(run + 1);
      const window = 1 + Math.floor(rand() * 64);
      const h = bytes ? harness(window, 1024 + Math.floor(rand() * 64 * 1024)) : harness(window);
      const itemSize = () => Math.floor(rand() * rand() * 32 * 1024);
      if (rand() < 0.3) h.setWritable(false);
      const initial = rand() < 0.1 ? MAX_REQUEST_N : 1 + Math.floor(rand() * 3 * window);
      let consumerRequested = initial === MAX_REQUEST_N ? Infinity : initial;
      let upstreamRequested = h.bridge.open(initial);
      let delivered = 0;
      let lastSeen = 0;
      // Plain checks (expect() per step is too slow for ~250k steps); a violation throws with its context.
      const ensure = (ok: boolean, what: string) => {
        checks++;
        if (!ok) throw new Error(`run ${run} (window ${window}): ${what}; credit ${h.bridge.credit}, inflight ${h.bridge.inflight}, window now ${h.bridge.window}`);
      };
      const check = (step: string) => {
        const { credit, inflight } = h.bridge;
        // The byte window may shrink below what is already in flight; the item window never does.
        ensure(inflight <= Math.min(credit, window), `after ${step}: inflight > min(credit, window)`);
        if (!bytes) ensure(h.bridge.window === window, `after ${step}: the item window changed`);
        ensure(inflight === upstreamRequested - delivered, `after ${step}: inflight is not requested - delivered`);
        ensure(credit === (consumerRequested === Infinity ? Infinity : consumerRequested - delivered), `after ${step}: credit is not consumer demand - delivered`);
        ensure(upstreamRequested <= consumerRequested, `after ${step}: producer got more demand than the consumer gave`);
        // Never stalled: unmet demand always has something in flight or a wake-up pending.
        if (Math.min(credit, h.bridge.window) > inflight) ensure(inflight > 0 || h.waiters.size === 1, `after ${step}: stalled`);
      };
      const observe = (step: string) => {
        const fresh = h.upstream.slice(lastSeen);
        lastSeen = h.upstream.length;
        for (const n of fresh) {
          ensure(h.writable, 'requested upstream while congested');
          ensure(n >= 1, 'empty request');
          upstreamRequested += n;
        }
        const last = fresh.at(-1);
        if (last !== undefined) {
          // A top-up fills the window as it is now, never more...
          ensure(h.bridge.inflight === Math.min(h.bridge.credit, h.bridge.window), `top-up ${last} does not fill the window exactly`);
          // ...and is smaller than the batch only when it covers all the consumer wants.
          if (last < Math.max(1, h.bridge.window >> 1)) ensure(h.bridge.inflight === h.bridge.credit, `small top-up ${last} below the batch`);
        }
        check(step);
      };
      check('open');
      for (let step = 0; step < 400; step++) {
        const r = rand();
        if (r < 0.5 && h.bridge.inflight > 0) {
          delivered++;
          h.bridge.onItem(bytes ? itemSize() : 0);
          observe('item');
        } else if (r < 0.75) {
          const n = rand() < 0.05 ? MAX_REQUEST_N : 1 + Math.floor(rand() * 2 * window);
          consumerRequested = n === MAX_REQUEST_N ? Infinity : consumerRequested + n;
          h.bridge.onRequest(n);
          observe('request');
        } else {
          h.setWritable(!h.writable);
          observe(h.writable ? 'drain' : 'congestion');
        }
      }
    }
    expect(checks).toBeGreaterThan(300 * 400);
  });

  describe('before the first item, with maxItemBytes', () => {
    it('the window is what fits in windowBytes at the largest item size (at least 1), then follows the real size', () => {
      const h = harness(512, 512 * 1024, { maxItemBytes: 1024 * 1024 });
      expect(h.bridge.window).toBe(1);
      expect(h.bridge.open(256)).toBe(1);
      // The first item shows 100-byte items: the window opens to the item count and the rest is asked at once.
      expect(h.bridge.arrive(100)).toBe(true);
      expect(h.bridge.window).toBe(512);
      expect(h.upstream).toEqual([255]);
      expect(harness(512, 512 * 1024, { maxItemBytes: 64 * 1024 }).bridge.open(256)).toBe(8);
      expect(harness(4, 512 * 1024, { maxItemBytes: 1024 }).bridge.open(256)).toBe(4);
    });

    it('64 KiB items are paced at the byte window from the first request: never more than windowBytes in flight', () => {
      const h = harness(512, 512 * 1024, { maxItemBytes: 1024 * 1024, prefetch: 256 });
      let inflightBytesMax = h.bridge.open(256) * 64 * 1024;
      for (let i = 0; i < 200; i++) {
        h.bridge.arrive(64 * 1024);
        inflightBytesMax = Math.max(inflightBytesMax, h.bridge.inflight * 64 * 1024);
      }
      expect(inflightBytesMax).toBeLessThanOrEqual(512 * 1024);
    });

    it('without windowBytes, maxItemBytes changes nothing', () => {
      expect(harness(512, undefined, { maxItemBytes: 1024 * 1024 }).bridge.open(300)).toBe(300);
    });
  });

  it('reports held bytes to its memory holder and gives them back on release and stop', () => {
    const memory = new MemoryBudget(Infinity);
    const h = harness(512, undefined, { prefetch: 256, memory: memory.holder('prefetch', { shed() {} }) });
    h.bridge.open(1);
    h.bridge.arrive(100);
    h.bridge.arrive(70);
    h.bridge.arrive(30);
    expect(memory.usedBy('prefetch')).toBe(100);
    h.bridge.onRequest(1, () => 70);
    expect(memory.usedBy('prefetch')).toBe(30);
    h.bridge.stop();
    expect(memory.used).toBe(0);
  });

  it('prefetch pauses while the memory budget is at least half used', () => {
    const memory = new MemoryBudget(1000);
    const pressure = memory.holder('outbound', { shed() {} });
    const budget = new PrefetchBudget(1_000_000, memory);
    expect(budget.open).toBe(true);
    pressure.set(500);
    expect(budget.open).toBe(false);
    expect(harness(512, undefined, { prefetch: 256, budget }).bridge.open(10)).toBe(10);
    pressure.set(499);
    expect(budget.open).toBe(true);
  });

  describe('with prefetch', () => {
    it('asks ahead as many as the first request, capped by the prefetch option and the window', () => {
      expect(harness(512, undefined, { prefetch: 256 }).bridge.open(1)).toBe(2);
      expect(harness(512, undefined, { prefetch: 256 }).bridge.open(100)).toBe(200);
      expect(harness(512, undefined, { prefetch: 256 }).bridge.open(300)).toBe(512);
      expect(harness(512, undefined, { prefetch: 8 }).bridge.open(100)).toBe(108);
      expect(harness(512, undefined, { prefetch: 0 }).bridge.open(100)).toBe(100);
      expect(harness(16, undefined, { prefetch: 256 }).bridge.open(MAX_REQUEST_N)).toBe(16);
    });

    it('holds items that arrive ahead of demand and releases them, oldest first, before asking upstream', () => {
      const budget = new PrefetchBudget(1_000_000);
      const h = harness(512, undefined, { prefetch: 256, budget });
      expect(h.bridge.open(2)).toBe(4);
      expect([h.bridge.arrive(10), h.bridge.arrive(10), h.bridge.arrive(10), h.bridge.arrive(10)]).toEqual([true, true, false, false]);
      expect([h.bridge.held, h.bridge.heldBytes, budget.held]).toEqual([2, 20, 20]);
      const released: number[] = [];
      h.bridge.onRequest(3, () => (released.push(released.length), 10));
      expect(released).toEqual([0, 1]);
      expect([h.bridge.held, h.bridge.heldBytes, budget.held, h.bridge.credit]).toEqual([0, 0, 0, 1]);
      // 2 held for a request of 3: the consumer waits for one, so the stream asks twice as far ahead.
      // Credit 1 plus 4 ahead: 5 asked for, in one top-up.
      expect(h.bridge.aheadItems).toBe(4);
      expect(h.upstream).toEqual([5]);
      expect(h.bridge.arrive(10)).toBe(true);
    });

    it('stop() gives the held bytes back to the budget', () => {
      const budget = new PrefetchBudget(1_000_000);
      const h = harness(512, undefined, { prefetch: 256, budget });
      h.bridge.open(1);
      h.bridge.arrive(100);
      h.bridge.arrive(100);
      expect(budget.held).toBe(100);
      h.bridge.stop();
      expect(budget.held).toBe(0);
    });

    it('asks no further ahead while the budget is spent, and resumes when it has room', () => {
      const budget = new PrefetchBudget(100);
      const h = harness(512, undefined, { prefetch: 256, budget });
      h.bridge.open(4);
      budget.held = 100;
      for (let i = 0; i < 8; i++) h.bridge.arrive(1);
      expect(h.bridge.held).toBe(4);
      h.bridge.onRequest(10, () => 1);
      // 4 released from the held items, 6 still owed: asked for exactly that, nothing ahead.
      expect(h.upstream).toEqual([6]);
      budget.held = 0;
      h.bridge.onRequest(1);
      // Room again: credit 7 plus 16 ahead (4, doubled at each request that found too little held), less the 6 in flight.
      expect(h.bridge.aheadItems).toBe(16);
      expect(h.upstream).toEqual([6, 17]);
    });

    it('asks twice as far ahead each time the consumer asks for more than is held, up to the prefetch option', () => {
      const h = harness(1024, undefined, { prefetch: 512 });
      // A consumer with prefetch 64 topping up in halves, from a producer that has sent nothing yet.
      expect(h.bridge.open(64)).toBe(128);
      const aheads = [h.bridge.aheadItems];
      for (let i = 0; i < 5; i++) {
        h.bridge.onRequest(32);
        aheads.push(h.bridge.aheadItems);
      }
      expect(aheads).toEqual([64, 128, 256, 512, 512, 512]);
      // The producer was asked for the consumer's 224 and 512 ahead, never more.
      expect(h.upstream.reduce((a, b) => a + b, 128)).toBe(224 + 512);
    });

    it('does not ask further ahead while what is held covers what the consumer asks for', () => {
      const h = harness(1024, undefined, { prefetch: 512 });
      // A consumer requesting 1 at a time from a producer that keeps up: one item held at each request.
      expect(h.bridge.open(1)).toBe(2);
      expect([h.bridge.arrive(10), h.bridge.arrive(10)]).toEqual([true, false]);
      for (let i = 0; i < 20; i++) {
        h.bridge.onRequest(1, () => 10);
        expect(h.bridge.aheadItems).toBe(1);
        expect(h.bridge.arrive(10)).toBe(false);
      }
      // A consumer with prefetch 64 behind a faster producer: 64 held when it asks for 32.
      const g = harness(1024, undefined, { prefetch: 512 });
      g.bridge.open(64);
      for (let i = 0; i < 128; i++) g.bridge.arrive(10);
      for (let i = 0; i < 10; i++) {
        g.bridge.onRequest(32, () => 10);
        expect(g.bridge.aheadItems).toBe(64);
        while (g.bridge.inflight > 0) g.bridge.arrive(10);
        expect(g.bridge.held).toBe(64);
      }
    });

    it('with prefetch 0 never asks ahead, however long the consumer waits', () => {
      const h = harness(1024, undefined, { prefetch: 0 });
      h.bridge.open(8);
      for (let i = 0; i < 10; i++) h.bridge.onRequest(8);
      expect(h.bridge.aheadItems).toBe(0);
      expect(h.upstream.reduce((a, b) => a + b, 8)).toBe(88);
    });

    it.each([
      ['items only', false],
      ['items and bytes', true],
    ])('never asks beyond the requester\'s demand plus what it asks ahead, nor holds while the requester has credit (%s)', (_name, bytes) => {
      let checks = 0;
      for (let run = 0; run < 300; run++) {
        const rand = prng(run + 1000);
        const window = 1 + Math.floor(rand() * 64);
        const prefetch = Math.floor(rand() * 2 * window);
        const budget = new PrefetchBudget(rand() < 0.2 ? Math.floor(rand() * 4096) : 1 << 30);
        const h = harness(window, bytes ? 1024 + Math.floor(rand() * 64 * 1024) : undefined, { prefetch, budget });
        const itemSize = () => (bytes ? Math.floor(rand() * rand() * 32 * 1024) : 0);
        if (rand() < 0.3) h.setWritable(false);
        const initial = rand() < 0.1 ? MAX_REQUEST_N : 1 + Math.floor(rand() * 3 * window);
        let ahead = Math.min(initial, prefetch);
        let consumerRequested = initial === MAX_REQUEST_N ? Infinity : initial;
        let upstreamRequested = h.bridge.open(initial);
        let lastSeen = 0;
        let arrived = 0;
        let delivered = 0;
        const heldSizes: number[] = [];
        const ensure = (ok: boolean, what: string) => {
          checks++;
          if (!ok) throw new Error(`run ${run} (window ${window}, prefetch ${prefetch}): ${what}; credit ${h.bridge.credit}, inflight ${h.bridge.inflight}, held ${h.bridge.held}`);
        };
        const check = (step: string) => {
          const { credit, inflight, held } = h.bridge;
          for (const n of h.upstream.slice(lastSeen)) {
            ensure(h.writable, `${step}: requested upstream while congested`);
            ensure(n >= 1, `${step}: empty request`);
            upstreamRequested += n;
          }
          lastSeen = h.upstream.length;
          ensure(h.bridge.aheadItems === ahead, `${step}: asks ${h.bridge.aheadItems} ahead, expected ${ahead}`);
          ensure(ahead <= prefetch, `${step}: asks ${ahead} ahead, beyond the prefetch option`);
          ensure(upstreamRequested <= Math.max(consumerRequested + ahead, 1), `${step}: producer got more than the consumer's demand plus ${ahead} ahead`);
          if (!bytes) ensure(inflight + held <= window, `${step}: more than the window between producer and consumer`);
          ensure(delivered <= consumerRequested, `${step}: delivered more than the consumer asked for`);
          ensure(held === heldSizes.length, `${step}: held count drifted`);
          ensure(h.bridge.heldBytes === heldSizes.reduce((a, b) => a + b, 0), `${step}: held bytes drifted`);
          ensure(inflight === upstreamRequested - arrived, `${step}: inflight is not requested - arrived`);
          ensure(held === 0 || credit === 0, `${step}: holding items the consumer has asked for`);
        };
        check('open');
        for (let step = 0; step < 400; step++) {
          const r = rand();
          if (r < 0.5 && h.bridge.inflight > 0) {
            const size = itemSize();
            arrived++;
            if (h.bridge.arrive(size)) delivered++;
            else heldSizes.push(size);
            check('item');
          } else if (r < 0.75) {
            const n = rand() < 0.05 ? MAX_REQUEST_N : 1 + Math.floor(rand() * 2 * window);
            consumerRequested = n === MAX_REQUEST_N ? Infinity : consumerRequested + n;
            // Too little held for this request: the consumer will wait on the producer, so ahead doubles (within prefetch).
            if (h.bridge.held < n && ahead > 0) ahead = Math.min(2 * ahead, prefetch);
            h.bridge.onRequest(n, () => (delivered++, heldSizes.shift()!));
            check('request');
          } else {
            h.setWritable(!h.writable);
            check(h.writable ? 'drain' : 'congestion');
          }
        }
        h.bridge.stop();
        // This bridge is the budget's only user: whatever it held is given back.
        ensure(budget.held === 0, 'stop() left held bytes in the budget');
      }
      expect(checks).toBeGreaterThan(300 * 400);
    });
  });
});

import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { SluiceError } from '../../src/errors.js';
import { Bulkhead, defaultBulkheadOptions, type Release } from '../../src/resilience/bulkhead.js';

/** Settles a promise into an inspectable record without awaiting it. */
function track<T>(p: Promise<T>) {
  const r: { value?: T; error?: unknown; settled: boolean } = { settled: false };
  p.then(
    (value) => Object.assign(r, { value, settled: true }),
    (error: unknown) => Object.assign(r, { error, settled: true }),
  );
  return r;
}

const flush = () => vi.advanceTimersByTimeAsync(0);

describe('Bulkhead', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('tryEnter takes a slot without a release function; leave gives it back to the next waiter', async () => {
    const b = new Bulkhead({ maxConcurrent: 1, maxQueue: 1 });
    expect(b.tryEnter()).toBe(true);
    expect(b.tryEnter()).toBe(false);
    expect(b.tryAcquire()).toBeUndefined();
    const waiting = track(b.acquire(1_000));
    expect(b.queued).toBe(1);
    b.leave();
    await flush();
    expect(waiting.settled).toBe(true);
    expect(b.active).toBe(1);
    expect(b.tryEnter()).toBe(false);
    (waiting.value as Release)();
    expect(b.active).toBe(0);
    expect(b.tryEnter()).toBe(true);
    expect(b.active).toBe(1);
  });

  it('has the documented defaults and validates options', () => {
    expect(defaultBulkheadOptions).toEqual({ maxConcurrent: 100, maxQueue: 100 });
    expect(new Bulkhead().options).toEqual({ maxConcurrent: 100, maxQueue: 100 });
    expect(new Bulkhead({ maxQueue: 0 }).options).toEqual({ maxConcurrent: 100, maxQueue: 0 });
    expect(() => new Bulkhead({ maxConcurrent: 0 })).toThrow('bulkhead: maxConcurrent must be an integer >= 1, got 0');
    expect(() => new Bulkhead({ maxQueue: -1 })).toThrow('bulkhead: maxQueue must be an integer >= 0, got -1');
    expect(() => new Bulkhead({ maxConcurrent: 1.5 })).toThrow(RangeError);
  });

  it('fast path: tryAcquire takes free slots synchronously and never queues', () => {
    const bh = new Bulkhead({ maxConcurrent: 2, maxQueue: 5 });
    const a = bh.tryAcquire();
    const b = bh.tryAcquire();
    expect(a).toBeTypeOf('function');
    expect(b).toBeTypeOf('function');
    expect(bh.active).toBe(2);
    expect(bh.tryAcquire()).toBeUndefined();
    expect(bh.queued).toBe(0);
    expect(bh.counters).toEqual({ rejected: 0, timedOut: 0 });
    a!();
    expect(bh.active).toBe(1);
    expect(bh.tryAcquire()).toBeTypeOf('function');
  });

  it('acquireNow: a free slot, or OVERLOADED thrown synchronously and counted', () => {
    const bh = new Bulkhead({ maxConcurrent: 1, maxQueue: 5 });
    const release = bh.acquireNow();
    expect(bh.active).toBe(1);
    expect(() => bh.acquireNow()).toThrow(new SluiceError('OVERLOADED', 'bulkhead full: 1 calls running (maxConcurrent=1) and no wait allowed'));
    expect(bh.counters.rejected).toBe(1);
    expect(bh.queued).toBe(0);
    release();
    expect(bh.acquireNow()).toBeTypeOf('function');
  });

  it('release is idempotent', () => {
    const bh = new Bulkhead({ maxConcurrent: 2 });
    const a = bh.tryAcquire()!;
    bh.tryAcquire();
    a();
    a();
    a();
    expect(bh.active).toBe(1);
  });

  it('acquire resolves at once when a slot is free', async () => {
    const bh = new Bulkhead({ maxConcurrent: 1 });
    const release = await bh.acquire(100);
    expect(bh.active).toBe(1);
    release();
    expect(bh.active).toBe(0);
  });

  it('waiters get slots in FIFO order as slots are released', async () => {
    const bh = new Bulkhead({ maxConcurrent: 1, maxQueue: 3 });
    const first = bh.tryAcquire()!;
    const order: string[] = [];
    const waits = ['a', 'b', 'c'].map((name) => bh.acquire(1_000).then((release) => (order.push(name), release)));
    expect(bh.queued).toBe(3);
    first();
    await flush();
    expect(order).toEqual(['a']);
    expect([bh.active, bh.queued]).toEqual([1, 2]);
    (await waits[0]!)();
    await flush();
    (await waits[1]!)();
    await flush();
    expect(order).toEqual(['a', 'b', 'c']);
    (await waits[2]!)();
    expect([bh.active, bh.queued]).toEqual([0, 0]);
  });

  it('tryAcquire does not overtake waiters', async () => {
    const bh = new Bulkhead({ maxConcurrent: 1, maxQueue: 1 });
    const first = bh.tryAcquire()!;
    const waiting = track(bh.acquire(1_000));
    first(); // the slot goes to the waiter, synchronously
    expect(bh.tryAcquire()).toBeUndefined();
    await flush();
    expect(waiting.value).toBeTypeOf('function');
    expect(bh.active).toBe(1);
  });

  it('queue full: rejects at once with OVERLOADED naming the limits, and counts it', async () => {
    const bh = new Bulkhead({ maxConcurrent: 1, maxQueue: 1 });
    bh.tryAcquire();
    const queued = track(bh.acquire(1_000));
    const err = await bh.acquire(1_000).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SluiceError);
    expect(err).toMatchObject({ code: 'OVERLOADED', message: 'bulkhead full: 1 calls running (maxConcurrent=1) and 1 waiting (maxQueue=1)' });
    expect(bh.counters).toEqual({ rejected: 1, timedOut: 0 });
    expect(bh.queued).toBe(1);
    expect(queued.settled).toBe(false);
  });

  it('maxQueue 0 or waitMs <= 0 means no waiting: OVERLOADED at once', async () => {
    const noQueue = new Bulkhead({ maxConcurrent: 1, maxQueue: 0 });
    noQueue.tryAcquire();
    await expect(noQueue.acquire(1_000)).rejects.toMatchObject({ code: 'OVERLOADED', message: 'bulkhead full: 1 calls running (maxConcurrent=1) and 0 waiting (maxQueue=0)' });
    const noWait = new Bulkhead({ maxConcurrent: 1, maxQueue: 5 });
    noWait.tryAcquire();
    await expect(noWait.acquire(0)).rejects.toMatchObject({ code: 'OVERLOADED', message: 'bulkhead full: 1 calls running (maxConcurrent=1) and no wait allowed' });
    expect(noWait.queued).toBe(0);
    expect(noWait.counters.rejected).toBe(1);
  });

  it('wait timeout: rejects with OVERLOADED after waitMs, leaves the queue, counts it', async () => {
    const bh = new Bulkhead({ maxConcurrent: 1, maxQueue: 2 });
    const holder = bh.tryAcquire()!;
    const waiting = track(bh.acquire(50));
    await vi.advanceTimersByTimeAsync(49);
    expect(waiting.settled).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect(waiting.error).toBeInstanceOf(SluiceError);
    expect(waiting.error).toMatchObject({ code: 'OVERLOADED', message: 'bulkhead: no slot freed within 50 ms (maxConcurrent=1, maxQueue=2)' });
    expect(bh.queued).toBe(0);
    expect(bh.counters).toEqual({ rejected: 0, timedOut: 1 });
    holder(); // no waiter is left to take it
    expect(bh.active).toBe(0);
  });

  it('a wait longer than the longest timer is capped, not fired at once', async () => {
    const bh = new Bulkhead({ maxConcurrent: 1, maxQueue: 1 });
    bh.tryAcquire();
    const waiting = track(bh.acquire(Infinity));
    await vi.advanceTimersByTimeAsync(1_000);
    expect(waiting.settled).toBe(false);
    await vi.advanceTimersByTimeAsync(0x7fffffff);
    expect(waiting.error).toMatchObject({ code: 'OVERLOADED', message: 'bulkhead: no slot freed within Infinity ms (maxConcurrent=1, maxQueue=1)' });
  });

  it('a granted waiter clears its timer: no late timeout', async () => {
    const bh = new Bulkhead({ maxConcurrent: 1, maxQueue: 1 });
    const holder = bh.tryAcquire()!;
    const waiting = track(bh.acquire(50));
    holder();
    await vi.advanceTimersByTimeAsync(100);
    expect(waiting.value).toBeTypeOf('function');
    expect(bh.counters.timedOut).toBe(0);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('abort: rejects with the signal reason, leaves the queue, removes its listener and timer', async () => {
    const bh = new Bulkhead({ maxConcurrent: 1, maxQueue: 2 });
    bh.tryAcquire();
    const controller = new AbortController();
    const remove = vi.spyOn(controller.signal, 'removeEventListener');
    const waiting = track(bh.acquire(1_000, controller.signal));
    const reason = new Error('caller gave up');
    controller.abort(reason);
    await flush();
    expect(waiting.error).toBe(reason);
    expect(bh.queued).toBe(0);
    expect(remove).toHaveBeenCalledWith('abort', expect.any(Function));
    expect(vi.getTimerCount()).toBe(0);
    expect(bh.counters).toEqual({ rejected: 0, timedOut: 0 });
  });

  it('an already aborted signal rejects at once with its reason, even with a slot free', async () => {
    const bh = new Bulkhead({ maxConcurrent: 1 });
    const reason = new SluiceError('CANCELED', 'gone');
    await expect(bh.acquire(10, AbortSignal.abort(reason))).rejects.toBe(reason);
    expect(bh.active).toBe(0);
  });

  it('without a reason, abort rejects with the platform AbortError; CANCELED when the reason is missing', async () => {
    const bh = new Bulkhead({ maxConcurrent: 1 });
    bh.tryAcquire();
    const controller = new AbortController();
    const waiting = bh.acquire(1_000, controller.signal);
    controller.abort();
    await expect(waiting).rejects.toMatchObject({ name: 'AbortError' });
    const fake = { aborted: true, reason: undefined } as unknown as AbortSignal;
    await expect(bh.acquire(1_000, fake)).rejects.toMatchObject({ code: 'CANCELED', message: 'bulkhead wait aborted' });
  });

  it('removes its waiter, timer and abort listener on every exit path', async () => {
    const bh = new Bulkhead({ maxConcurrent: 1, maxQueue: 3 });
    const holder = bh.tryAcquire()!;
    const signals = [new AbortController(), new AbortController(), new AbortController()];
    const removes = signals.map((c) => vi.spyOn(c.signal, 'removeEventListener'));
    const granted = bh.acquire(1_000, signals[0]!.signal);
    const timedOut = track(bh.acquire(10, signals[1]!.signal));
    const aborted = track(bh.acquire(1_000, signals[2]!.signal));
    expect(bh.queued).toBe(3);
    signals[2]!.abort();
    await vi.advanceTimersByTimeAsync(10);
    expect([aborted.settled, timedOut.settled]).toEqual([true, true]);
    holder();
    const release: Release = await granted;
    expect(bh.queued).toBe(0);
    expect(vi.getTimerCount()).toBe(0);
    for (const remove of removes) expect(remove).toHaveBeenCalledWith('abort', expect.any(Function));
    release();
    expect([bh.active, bh.queued]).toEqual([0, 0]);
  });

  it('unrefs its wait timers so they never keep the process alive', () => {
    vi.useRealTimers();
    const unref = vi.fn();
    const spy = vi.spyOn(globalThis, 'setTimeout').mockImplementation((() => ({ unref })) as unknown as typeof setTimeout);
    try {
      const bh = new Bulkhead({ maxConcurrent: 1, maxQueue: 1 });
      bh.tryAcquire();
      void bh.acquire(1_000).catch(() => {});
      expect(unref).toHaveBeenCalledTimes(1);
    } finally {
      spy.mockRestore();
    }
  });
});

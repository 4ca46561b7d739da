import { describe, expect, it } from 'vitest';
import { SluiceError } from '../../src/errors.js';
import { PullQueue } from '../../src/flow/pull-queue.js';

function queue(prefetch?: number, initiallyOutstanding?: number) {
  const requests: number[] = [];
  let cancels = 0;
  const q = new PullQueue<string>({
    ...(prefetch === undefined ? {} : { prefetch }),
    ...(initiallyOutstanding === undefined ? {} : { initiallyOutstanding }),
    request: (n) => requests.push(n),
    cancel: () => cancels++,
  });
  return {
    q,
    requests,
    get cancels() {
      return cancels;
    },
  };
}

/** Lets already-settled promise callbacks run (no timers involved). */
const flush = async () => {
  for (let i = 0; i < 5; i++) await Promise.resolve();
};

describe('PullQueue', () => {
  it('prefetch 1 (default): requests one item only when next() finds nothing queued or outstanding', async () => {
    const { q, requests } = queue();
    expect(requests).toEqual([]);
    const first = q.next();
    expect(requests).toEqual([1]);
    q.push('a');
    await expect(first).resolves.toEqual({ value: 'a', done: false });
    // The consumer is working on 'a': nothing is requested meanwhile.
    await flush();
    expect(requests).toEqual([1]);
    const second = q.next();
    expect(requests).toEqual([1, 1]);
    q.push('b');
    await expect(second).resolves.toEqual({ value: 'b', done: false });
  });

  it('with an item already queued, next() takes it and requests nothing', async () => {
    const { q, requests } = queue(1, 1);
    q.push('early');
    expect(q.size).toBe(1);
    await expect(q.next()).resolves.toEqual({ value: 'early', done: false });
    expect(requests).toEqual([]);
  });

  it('counts what the peer was granted before the queue existed', async () => {
    const { q, requests } = queue(1, 1);
    const first = q.next();
    expect(requests).toEqual([]);
    q.push('granted earlier');
    await expect(first).resolves.toEqual({ value: 'granted earlier', done: false });
    void q.next();
    expect(requests).toEqual([1]);
  });

  it('prefetch N asks for N, then tops up in batches of at least N / 2', async () => {
    const { q, requests } = queue(8);
    const first = q.next();
    expect(requests).toEqual([8]);
    for (const item of 'abcdefgh') q.push(item);
    await first;
    expect(q.size).toBe(7);
    for (let i = 0; i < 3; i++) await q.next();
    expect(requests).toEqual([8]);
    await q.next();
    expect(requests).toEqual([8, 4]);
  });

  it('the queue never holds more than prefetch items from an honest producer', async () => {
    let seed = 7;
    const rand = () => ((seed = (seed * 16807) % 2147483647) / 2147483647);
    for (const prefetch of [1, 2, 3, 8, 16, 33]) {
      const { q, requests } = queue(prefetch);
      let pushed = 0;
      let taken = 0;
      let pending: Promise<void> | undefined;
      for (let step = 0; step < 1_000; step++) {
        const granted = requests.reduce((a, b) => a + b, 0);
        if (rand() < 0.5 && pushed < granted) {
          // The producer sends only what it was granted.
          q.push(`item${pushed++}`);
        } else if (!pending) {
          pending = q.next().then((r) => {
            expect(r).toEqual({ value: `item${taken}`, done: false });
            taken++;
            pending = undefined;
          });
        }
        await flush();
        expect(q.size).toBeLessThanOrEqual(prefetch);
        // Requested and not yet taken by the consumer: at most prefetch.
        expect(requests.reduce((a, b) => a + b, 0) - taken).toBeLessThanOrEqual(prefetch);
      }
      expect(taken).toBeGreaterThan(100);
    }
  });

  it('return() cancels the producer once, drops what is queued and ends the iteration', async () => {
    const h = queue(4);
    const { q, requests } = h;
    void q.next();
    q.push('a');
    q.push('b');
    await expect(q.return()).resolves.toEqual({ value: undefined, done: true });
    await q.return();
    expect(h.cancels).toBe(1);
    expect(q.size).toBe(0);
    q.push('after');
    expect(q.size).toBe(0);
    await expect(q.next()).resolves.toEqual({ value: undefined, done: true });
    expect(requests).toEqual([4]);
  });

  it('breaking out of for await cancels the producer', async () => {
    const h = queue(2);
    const seen: string[] = [];
    const consumer = (async () => {
      for await (const item of h.q) {
        seen.push(item);
        if (item === 'b') break;
      }
    })();
    await flush();
    h.q.push('a');
    h.q.push('b');
    await consumer;
    expect(seen).toEqual(['a', 'b']);
    expect(h.cancels).toBe(1);
  });

  it('return() while a next() is waiting resolves that next() with done (an abort does not leave the consumer hanging)', async () => {
    const t = queue();
    const waiting = t.q.next();
    await t.q.return();
    await expect(waiting).resolves.toEqual({ value: undefined, done: true });
    expect(t.cancels).toBe(1);
  });

  it('return() after the stream ended does not cancel', async () => {
    const h = queue();
    h.q.complete();
    await h.q.return();
    expect(h.cancels).toBe(0);
  });

  it('complete() ends the iteration after the queued items', async () => {
    const { q } = queue(4);
    void q.next();
    q.push('x');
    q.push('y');
    q.complete();
    await expect(q.next()).resolves.toEqual({ value: 'y', done: false });
    await expect(q.next()).resolves.toEqual({ value: undefined, done: true });
    await expect(q.next()).resolves.toEqual({ value: undefined, done: true });
  });

  it('complete() resolves a waiting next() with done', async () => {
    const { q } = queue();
    const waiting = q.next();
    q.complete();
    await expect(waiting).resolves.toEqual({ value: undefined, done: true });
  });

  it('error() rejects a waiting next(), and every later one after the queued items', async () => {
    const { q, requests } = queue(4);
    const err = new SluiceError('UNAVAILABLE', 'peer gone');
    const waiting = q.next();
    q.error(err);
    await expect(waiting).rejects.toBe(err);
    await expect(q.next()).rejects.toBe(err);
    expect(requests).toEqual([4]);

    const other = queue(4);
    void other.q.next();
    other.q.push('1');
    other.q.push('2');
    other.q.error(err);
    other.q.complete();
    await expect(other.q.next()).resolves.toEqual({ value: '2', done: false });
    await expect(other.q.next()).rejects.toBe(err);
  });

  it('next() while another next() is pending is a usage error', async () => {
    const { q } = queue();
    void q.next();
    await expect(q.next()).rejects.toThrow('PullQueue: next() called again before the previous one settled');
  });

  it('prefetch below 1 or fractional is treated as 1 and 1.5 as 1', () => {
    for (const prefetch of [0, -3, 1.5]) {
      const { q, requests } = queue(prefetch);
      void q.next();
      expect(requests).toEqual([1]);
    }
  });
});

/**
 * Emitters feed a responder stream from a handler's result without sending
 * beyond demand. AsyncIterables are pulled only with credit and while the
 * connection takes bytes; Observables (which cannot be paused) are buffered
 * and their overflow policies applied. Observable timing is checked with
 * RxJS marble tests, including the frame at which the source is unsubscribed.
 */
import { Observable, Subject, map, of, range, tap } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { describe, expect, it } from 'vitest';
import { SluiceError } from '../../src/errors.js';
import { emitIterable, emitObservable, lastItem, type Emitter, type Outbound } from '../../src/flow/emitters.js';

/** Runs queued promise callbacks; no timers. */
const settle = async () => {
  for (let i = 0; i < 20; i++) await Promise.resolve();
};

interface FakeOut<T> extends Outbound<T> {
  credit: number;
  writable: boolean;
  readonly sent: Array<T | `${string}(last)`>;
  readonly errors: SluiceError[];
  completed: number;
  readonly waiters: Set<() => void>;
  /** Stop being writable after this many more sends (undefined: never). */
  congestAfter: number | undefined;
  grant(n: number, emitter: Emitter): void;
  drain(): void;
}

function fakeOut<T>(credit = 0): FakeOut<T> {
  const out: FakeOut<T> = {
    credit,
    writable: true,
    sent: [],
    errors: [],
    completed: 0,
    waiters: new Set(),
    congestAfter: undefined,
    whenWritable(fn) {
      out.waiters.add(fn);
      return () => out.waiters.delete(fn);
    },
    send(item, last = false) {
      // The stream underneath throws on a send without demand; so do we.
      if (out.credit <= 0) throw new Error('send without demand');
      out.credit--;
      out.sent.push(last ? `${String(item)}(last)` : item);
      if (out.congestAfter !== undefined && --out.congestAfter <= 0) {
        out.writable = false;
        out.congestAfter = undefined;
      }
    },
    complete() {
      out.completed++;
    },
    error(e) {
      out.errors.push(e);
    },
    grant(n, emitter) {
      out.credit += n;
      emitter.onRequest();
    },
    drain() {
      out.writable = true;
      const ws = [...out.waiters];
      out.waiters.clear();
      for (const w of ws) w();
    },
  };
  return out;
}

/** An AsyncIterable that counts pulls and returns, with `count` items 0..count-1. */
function counted(count = Infinity) {
  const log = { nexts: 0, returns: 0, concurrent: 0, maxConcurrent: 0 };
  const iterator: AsyncIterableIterator<number> = {
    async next() {
      const i = log.nexts++;
      log.concurrent++;
      log.maxConcurrent = Math.max(log.maxConcurrent, log.concurrent);
      await Promise.resolve();
      log.concurrent--;
      return i < count ? { value: i, done: false } : { value: undefined, done: true };
    },
    async return() {
      log.returns++;
      return { value: undefined, done: true };
    },
    [Symbol.asyncIterator]() {
      return iterator;
    },
  };
  return { log, source: iterator };
}

describe('emitIterable', () => {
  it('never pulls without credit, and pulls exactly what was granted', async () => {
    const { log, source } = counted();
    const out = fakeOut<number>(0);
    const emitter = emitIterable(source, out);
    await settle();
    expect(log.nexts).toBe(0);
    out.grant(3, emitter);
    await settle();
    expect(out.sent).toEqual([0, 1, 2]);
    expect(log.nexts).toBe(3);
    out.grant(1, emitter);
    await settle();
    expect(out.sent).toEqual([0, 1, 2, 3]);
    expect(log.nexts).toBe(4);
    expect(log.maxConcurrent).toBe(1);
  });

  it('does not pull while the connection is not writable, and resumes when it drains', async () => {
    const { log, source } = counted();
    const out = fakeOut<number>(5);
    out.writable = false;
    emitIterable(source, out);
    await settle();
    expect(log.nexts).toBe(0);
    expect(out.waiters.size).toBe(1);
    out.drain();
    await settle();
    expect(out.sent).toEqual([0, 1, 2, 3, 4]);
  });

  it('stops pulling as soon as the connection congests mid-stream', async () => {
    const { log, source } = counted();
    const out = fakeOut<number>(10);
    out.congestAfter = 2;
    emitIterable(source, out);
    await settle();
    expect(out.sent).toEqual([0, 1]);
    expect(log.nexts).toBe(2);
    out.drain();
    await settle();
    expect(out.sent).toHaveLength(10);
  });

  it('keeps a single writable waiter however many requests arrive while congested', async () => {
    const { source } = counted();
    const out = fakeOut<number>(1);
    out.writable = false;
    const emitter = emitIterable(source, out);
    await settle();
    for (let i = 0; i < 5; i++) {
      out.grant(1, emitter);
      await settle();
    }
    expect(out.waiters.size).toBe(1);
    out.drain();
    await settle();
    expect(out.sent).toEqual([0, 1, 2, 3, 4, 5]);
  });

  it('completes when the source ends; seeing the end takes a pull, which takes credit', async () => {
    const { log, source } = counted(2);
    const out = fakeOut<number>(2);
    const emitter = emitIterable(source, out);
    await settle();
    expect([out.sent, out.completed, log.nexts]).toEqual([[0, 1], 0, 2]);
    out.grant(1, emitter);
    await settle();
    expect([out.sent, out.completed, log.nexts]).toEqual([[0, 1], 1, 3]);
  });

  it('lastItem() completes with the final item, without another pull', async () => {
    let finished = false;
    async function* gen() {
      try {
        yield 'a';
        yield lastItem('b');
        yield 'never';
      } finally {
        finished = true;
      }
    }
    const out = fakeOut<unknown>(2);
    emitIterable<unknown>(gen(), out);
    await settle();
    expect(out.sent).toEqual(['a', 'b(last)']);
    expect(out.completed).toBe(0);
    expect(finished).toBe(true);
  });

  it('a source that throws ends the stream with its error: INTERNAL, or its own Sluice code', async () => {
    async function* failing(error: unknown) {
      yield 1;
      throw error;
    }
    const plain = fakeOut<number>(5);
    emitIterable(failing(new Error('database down')), plain);
    const coded = fakeOut<number>(5);
    emitIterable(failing(new SluiceError('INVALID_ARGUMENT', "'id' is required")), coded);
    await settle();
    expect(plain.sent).toEqual([1]);
    expect(plain.errors.map((e) => [e.code, e.message])).toEqual([['INTERNAL', 'database down']]);
    expect(coded.errors.map((e) => [e.code, e.message])).toEqual([['INVALID_ARGUMENT', "'id' is required"]]);
    expect(plain.completed + coded.completed).toBe(0);
  });

  it('cancel() returns the iterator, so a generator runs its finally block', async () => {
    let finished = false;
    let produced = 0;
    async function* gen() {
      try {
        for (;;) yield produced++;
      } finally {
        finished = true;
      }
    }
    const out = fakeOut<number>(2);
    const emitter = emitIterable(gen(), out);
    await settle();
    expect(out.sent).toEqual([0, 1]);
    emitter.cancel();
    await settle();
    expect(finished).toBe(true);
    out.grant(5, emitter);
    await settle();
    expect(out.sent).toEqual([0, 1]);
    expect(produced).toBe(2);
    expect(out.completed + out.errors.length).toBe(0);
  });

  it('cancel() is idempotent and returns the iterator once', async () => {
    const { log, source } = counted();
    const emitter = emitIterable(source, fakeOut<number>(0));
    emitter.cancel();
    emitter.cancel();
    await settle();
    expect(log.returns).toBe(1);
    expect(log.nexts).toBe(0);
  });

  it('an item that arrives after cancel() is not sent', async () => {
    let release!: (v: IteratorResult<string>) => void;
    const source: AsyncIterableIterator<string> = {
      next: () => new Promise((r) => (release = r)),
      return: async () => ({ value: undefined, done: true }),
      [Symbol.asyncIterator]: () => source,
    };
    const out = fakeOut<string>(1);
    const emitter = emitIterable(source, out);
    await settle();
    emitter.cancel();
    release({ value: 'late', done: false });
    await settle();
    expect(out.sent).toEqual([]);
    expect(out.errors).toEqual([]);
  });

  it('cancel() while waiting for the connection to drain removes the waiter', async () => {
    const { source } = counted();
    const out = fakeOut<number>(1);
    out.writable = false;
    const emitter = emitIterable(source, out);
    await settle();
    expect(out.waiters.size).toBe(1);
    emitter.cancel();
    await settle();
    expect(out.waiters.size).toBe(0);
  });
});

// ------------------------------------------------------------ Observables

/** An Outbound whose sends, completion and error form an Observable, for marble assertions. */
function marbleOut(credit: number) {
  const events = new Subject<string>();
  const out: Outbound<string> & { credit: number } = {
    credit,
    writable: true,
    whenWritable: () => () => {},
    send(item) {
      if (out.credit <= 0) throw new Error('send without demand');
      out.credit--;
      events.next(item);
    },
    complete: () => events.complete(),
    error: (e) => events.error(`${e.code}: ${e.message}`),
  };
  return { out, events };
}

const testScheduler = () => new TestScheduler((actual, expected) => expect(actual).toEqual(expected));

describe('emitObservable', () => {
  it('sends within credit straight away and completes with the source', () => {
    testScheduler().run(({ hot, expectObservable, expectSubscriptions }) => {
      const source = hot('-a-b-c-|');
      const { out, events } = marbleOut(10);
      emitObservable(source, out);
      expectObservable(events).toBe('-a-b-c-|');
      expectSubscriptions(source.subscriptions).toBe('^------!');
    });
  });

  it('buffers beyond credit and flushes as credit arrives; completion waits for the buffer', () => {
    const ts = testScheduler();
    ts.run(({ hot, expectObservable, expectSubscriptions }) => {
      const source = hot('-a-b-c-d-|');
      const { out, events } = marbleOut(1);
      const emitter = emitObservable(source, out, { bufferSize: 4 });
      ts.schedule(() => {
        out.credit += 2;
        emitter.onRequest();
      }, 6);
      ts.schedule(() => {
        out.credit += 10;
        emitter.onRequest();
      }, 12);
      expectObservable(events).toBe('-a----(bc)--(d|)');
      // The source is released when it completes (frame 9), not when its last item is delivered.
      expectSubscriptions(source.subscriptions).toBe('^--------!');
    });
  });

  it('an error from the source is delivered only after the buffered items', () => {
    const ts = testScheduler();
    ts.run(({ hot, expectObservable, expectSubscriptions }) => {
      const source = hot('-a-#', undefined, new Error('source failed'));
      const { out, events } = marbleOut(0);
      const emitter = emitObservable(source, out);
      ts.schedule(() => {
        out.credit += 1;
        emitter.onRequest();
      }, 5);
      expectObservable(events).toBe('-----(a#)', undefined, 'INTERNAL: source failed');
      expectSubscriptions(source.subscriptions).toBe('^--!');
    });
  });

  it("overflow 'error' (default): BUFFER_OVERFLOW at once, the source unsubscribed at that frame, the buffer dropped", () => {
    const ts = testScheduler();
    ts.run(({ hot, expectObservable, expectSubscriptions }) => {
      const source = hot('-a-b-c-d-|');
      const { out, events } = marbleOut(0);
      const emitter = emitObservable(source, out, { bufferSize: 2 });
      ts.schedule(() => {
        out.credit += 10;
        emitter.onRequest();
      }, 7);
      expectObservable(events).toBe('-----#', undefined, 'BUFFER_OVERFLOW: producer outran demand: 2 items buffered and the consumer requested no more');
      expectSubscriptions(source.subscriptions).toBe('^----!');
    });
  });

  it("overflow 'drop-newest' keeps the oldest items and counts the drops", () => {
    const ts = testScheduler();
    let drops = 0;
    ts.run(({ hot, expectObservable, expectSubscriptions }) => {
      const source = hot('-a-b-c-d-|');
      const { out, events } = marbleOut(0);
      const emitter = emitObservable(source, out, { bufferSize: 2, overflow: 'drop-newest', onDrop: () => drops++ });
      ts.schedule(() => {
        out.credit += 10;
        emitter.onRequest();
      }, 11);
      expectObservable(events).toBe('-----------(ab|)');
      expectSubscriptions(source.subscriptions).toBe('^--------!');
    });
    expect(drops).toBe(2);
  });

  it("overflow 'drop-oldest' keeps the newest items and counts the drops", () => {
    const ts = testScheduler();
    let drops = 0;
    ts.run(({ hot, expectObservable }) => {
      const source = hot('-a-b-c-d-|');
      const { out, events } = marbleOut(0);
      const emitter = emitObservable(source, out, { bufferSize: 2, overflow: 'drop-oldest', onDrop: () => drops++ });
      ts.schedule(() => {
        out.credit += 1;
        emitter.onRequest();
      }, 11);
      ts.schedule(() => {
        out.credit += 1;
        emitter.onRequest();
      }, 13);
      expectObservable(events).toBe('-----------c-(d|)');
    });
    expect(drops).toBe(2);
  });

  it('cancel() unsubscribes the source at once and drops the buffer', () => {
    const ts = testScheduler();
    ts.run(({ hot, expectObservable, expectSubscriptions }) => {
      const source = hot('-a-b-c-d-e-|');
      const { out, events } = marbleOut(1);
      const emitter = emitObservable(source, out);
      ts.schedule(() => emitter.cancel(), 4);
      ts.schedule(() => {
        out.credit += 10;
        emitter.onRequest();
      }, 6);
      // 'a' within credit, 'b' buffered then dropped; no completion after a cancel.
      expectObservable(events).toBe('-a----------');
      expectSubscriptions(source.subscriptions).toBe('^---!');
    });
  });

  it('a synchronous source within credit is sent and completed in one go', () => {
    const { out, events } = marbleOut(3);
    const seen: string[] = [];
    let completed = false;
    events.subscribe({ next: (v) => seen.push(v), complete: () => (completed = true) });
    emitObservable(of('x', 'y', 'z'), out);
    expect([seen, completed]).toEqual([['x', 'y', 'z'], true]);
  });

  it('the default buffer holds 256 items; the 257th overflows and stops a synchronous source', () => {
    const { out, events } = marbleOut(0);
    let emitted = 0;
    let error: unknown;
    events.subscribe({ error: (e: unknown) => (error = e) });
    emitObservable(range(0, 10_000).pipe(tap(() => emitted++), map(String)), out);
    expect(error).toBe('BUFFER_OVERFLOW: producer outran demand: 256 items buffered and the consumer requested no more');
    expect(emitted).toBe(257);
  });

  it('nothing is sent beyond credit even when the source emits in bursts', () => {
    let subscriber!: { next: (v: string) => void };
    const source = new Observable<string>((s) => {
      subscriber = s;
    });
    const { out, events } = marbleOut(2);
    const seen: string[] = [];
    events.subscribe((v) => seen.push(v));
    const emitter = emitObservable(source, out, { bufferSize: 100 });
    for (let i = 0; i < 50; i++) subscriber.next(String(i));
    expect(seen).toEqual(['0', '1']);
    out.credit += 3;
    emitter.onRequest();
    expect(seen).toEqual(['0', '1', '2', '3', '4']);
    expect(out.credit).toBe(0);
  });
});

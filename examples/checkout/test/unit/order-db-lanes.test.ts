/**
 * The order store's run queue (order-db-lanes.ts): orders to accept go
 * ahead of every other operation waiting, and all those waiting when the
 * store frees up are committed in one transaction, so a place waits for
 * the one operation in progress, not for other places' trips. The store is
 * scripted: each operation runs until the test releases it, so order is
 * asserted, never time.
 */
import { describe, expect, it } from 'vitest';
import { MIN_SLICE_ROWS, MAX_PLACES_PER_COMMIT, StoreLanes, type LaneReport, type LaneRequest, type LaneStore } from '../../src/order-db-lanes.js';
import type { PlaceOutcome, PlaceRequest, TransitionOutcome, TransitionRequest } from '../../src/order-db.js';

/** A store whose operations each wait for the test's release; `log` says what ran, in order; `clock` is what the lanes read as time. */
function scriptedStore() {
  const log: string[] = [];
  const held: Array<() => void> = [];
  const clock = { ms: 0 };
  let failNextCommit = false;
  let placeAnswer: (batch: readonly PlaceRequest[]) => Array<PlaceOutcome | { error: string }> = (b) => b.map(() => ({ inserted: true }));
  const hold = <T>(what: string, value: T) =>
    new Promise<T>((resolve) => {
      log.push(what);
      held.push(() => resolve(value));
    });
  const other = (name: string) => (...args: unknown[]) => hold(`${name}(${args.map(String).join(',')})`, name);
  const store = {
    placeMany: (batch: readonly PlaceRequest[]) => hold(`places[${batch.map((p) => p.idempotencyKey).join(',')}]`, placeAnswer(batch)),
    close: () => hold('close', undefined),
    commitTransitions: (batch: readonly TransitionRequest[]) => {
      const what = `commit[${batch.map((t) => t.orderId).join(',')}]`;
      if (failNextCommit) {
        failNextCommit = false;
        return hold(what, undefined).then(() => Promise.reject(new Error('disk on fire')));
      }
      return hold(what, batch.map((t): TransitionOutcome => ({ events: [{ orderId: t.orderId }] as never })));
    },
    events: other('events'),
    view: other('view'),
    saga: other('saga'),
    warmUp: other('warmUp'),
    noteFailedAttempt: other('noteFailedAttempt'),
    park: other('park'),
    dueSagas: other('dueSagas'),
    counts: other('counts'),
    parkedCount: other('parkedCount'),
    placedKeys: other('placedKeys'),
  } as unknown as LaneStore;
  /** Releases the operation running now, as if it had held the store `ms`, and waits until the lanes have moved on. */
  const release = async (ms = 0) => {
    for (let i = 0; i < 10 && held.length === 0; i++) await Promise.resolve();
    const next = held.shift();
    if (!next) throw new Error(`nothing is running (ran: ${log.join(' ')})`);
    clock.ms += ms;
    next();
    for (let i = 0; i < 10; i++) await Promise.resolve();
  };
  /** Waits (a bounded number of microtask turns) until an operation is running. */
  const running = async () => {
    for (let i = 0; i < 10 && held.length === 0; i++) await Promise.resolve();
    if (held.length === 0) throw new Error('no operation started');
  };
  return { store, log, release, running, clock, answerPlaces: (f: typeof placeAnswer) => (placeAnswer = f), failNextCommit: () => (failNextCommit = true) };
}

function request(op: LaneRequest['op'], args: unknown[], answers: Array<{ value: unknown } | { error: unknown }>): LaneRequest {
  return { op, args, answer: (outcome) => answers.push(outcome) };
}

const place = (key: string, answers: Array<{ value: unknown } | { error: unknown }>) => request('place', [[key], key], answers);

/** `n` transitions of orders `<prefix>0` .. `<prefix>n-1`. */
const transitions = (prefix: string, n: number): TransitionRequest[] => Array.from({ length: n }, (_, i) => ({ orderId: `${prefix}${i}`, transition: {} as never }));

describe('store run queue: places first, together', () => {
  it('places asked for while an operation runs go next, in one transaction, ahead of operations queued before them', async () => {
    const { store, log, release, running, clock } = scriptedStore();
    const lanes = new StoreLanes(store, () => {}, { now: () => clock.ms });
    const answers: Array<{ value: unknown } | { error: unknown }> = [];
    lanes.submit(request('commitTransitions', [transitions('t', 2)], answers));
    await running();
    lanes.submit(request('view', ['ord-1'], answers));
    for (const key of ['a', 'b', 'c']) lanes.submit(place(key, answers));
    await release();
    expect(log).toEqual(['commit[t0,t1]', 'places[a,b,c]']);
    await release();
    expect(answers.slice(1, 4)).toEqual([{ value: { inserted: true } }, { value: { inserted: true } }, { value: { inserted: true } }]);
    // The read queued before the places ran only after them.
    expect(log).toEqual(['commit[t0,t1]', 'places[a,b,c]', 'view(ord-1)']);
    await release();
    expect(lanes.stats).toEqual({ placeCommits: 1, places: 3, others: 2, slices: 1 });
  });

  it('a place arriving while places commit goes in the next transaction, still ahead of other work', async () => {
    const { store, log, release, running, clock } = scriptedStore();
    const lanes = new StoreLanes(store, () => {}, { now: () => clock.ms });
    const answers: Array<{ value: unknown } | { error: unknown }> = [];
    lanes.submit(place('a', answers));
    await running();
    lanes.submit(request('dueSagas', [], answers));
    lanes.submit(place('b', answers));
    lanes.submit(place('c', answers));
    await release();
    await release();
    await release();
    expect(log).toEqual(['places[a]', 'places[b,c]', 'dueSagas()']);
  });

  it(`one transaction holds at most ${MAX_PLACES_PER_COMMIT} places; the rest go in the next, before other work`, async () => {
    const { store, log, release, running, clock } = scriptedStore();
    const lanes = new StoreLanes(store, () => {}, { now: () => clock.ms });
    const answers: Array<{ value: unknown } | { error: unknown }> = [];
    lanes.submit(request('counts', [], answers));
    await running();
    const n = MAX_PLACES_PER_COMMIT + 5;
    for (let i = 0; i < n; i++) lanes.submit(place(`k${i}`, answers));
    lanes.submit(request('parkedCount', [], answers));
    for (let i = 0; i < 4; i++) await release();
    expect(log.map((l) => (l.startsWith('places[') ? `places x${l.split(',').length}` : l))).toEqual(['counts()', `places x${MAX_PLACES_PER_COMMIT}`, 'places x5', 'parkedCount()']);
    expect(answers.filter((a) => 'value' in a && (a.value as { inserted?: boolean }).inserted)).toHaveLength(n);
  });

  it('a place the store refuses fails alone; the others in its transaction are answered', async () => {
    const { store, release, running, answerPlaces, clock } = scriptedStore();
    answerPlaces((batch) => batch.map((p) => (p.idempotencyKey === 'bad' ? { error: 'refused' } : { inserted: true })));
    const lanes = new StoreLanes(store, () => {}, { now: () => clock.ms });
    const answers: Array<{ value: unknown } | { error: unknown }> = [];
    lanes.submit(request('view', ['x'], answers));
    await running();
    for (const key of ['a', 'bad', 'c']) lanes.submit(place(key, answers));
    await release();
    await release();
    expect(answers.slice(1)).toEqual([{ value: { inserted: true } }, { error: new Error('refused') }, { value: { inserted: true } }]);
  });

  it('asks for new requests before every pick (the worker drains its port there)', async () => {
    const { store, log, release, running } = scriptedStore();
    const answers: Array<{ value: unknown } | { error: unknown }> = [];
    // Requests that arrive "on the port" while an operation runs: handed over only in beforePick.
    const port: LaneRequest[] = [];
    const lanes: StoreLanes = new StoreLanes(store, () => {
      for (const r of port.splice(0)) lanes.submit(r);
    });
    lanes.submit(request('events', ['ord-1'], answers));
    await running();
    port.push(request('saga', ['ord-2'], answers), place('p', answers));
    await release();
    await release();
    await release();
    expect(log).toEqual(['events(ord-1)', 'places[p]', 'saga(ord-2)']);
  });
});

describe('store run queue: background work in slices of bounded store time', () => {
  /** Runs a first batch of MIN_SLICE_ROWS transitions that took `ms` in all: the cost the lanes measure. */
  async function measured(lanes: StoreLanes, release: (ms?: number) => Promise<void>, running: () => Promise<void>, ms: number): Promise<void> {
    lanes.submit(request('commitTransitions', [transitions('m', MIN_SLICE_ROWS)], []));
    await running();
    await release(ms);
  }

  it('splits a long batch into slices sized by the measured cost; a place queued behind it runs after one slice', async () => {
    const { store, log, release, running, clock } = scriptedStore();
    const lanes = new StoreLanes(store, () => {}, { sliceBudgetMs: 5, now: () => clock.ms });
    // 4 transitions in 4 ms: 1 ms each, so 5 fit a slice.
    await measured(lanes, release, running, MIN_SLICE_ROWS);
    expect(lanes.sliceRows).toBe(5);
    log.length = 0;
    const batch: Array<{ value: unknown } | { error: unknown }> = [];
    const reports: LaneReport[] = [];
    lanes.submit({ op: 'commitTransitions', args: [transitions('t', 12)], answer: (o, r) => (batch.push(o), reports.push(r)) });
    await running();
    const answers: Array<{ value: unknown } | { error: unknown }> = [];
    lanes.submit(place('p', answers));
    lanes.submit(request('view', ['ord-1'], answers));
    await release(5);
    // The place went between the first slice and the second; the read waits for the whole batch.
    expect(log).toEqual(['commit[t0,t1,t2,t3,t4]', 'places[p]']);
    expect(answers).toEqual([]);
    await release(1);
    expect(answers).toEqual([{ value: { inserted: true } }]);
    await release(5);
    await release(2);
    expect(log).toEqual(['commit[t0,t1,t2,t3,t4]', 'places[p]', 'commit[t5,t6,t7,t8,t9]', 'commit[t10,t11]', 'view(ord-1)']);
    // One answer for the whole batch, every transition's outcome in order.
    expect(batch).toEqual([{ value: transitions('t', 12).map((t) => ({ events: [{ orderId: t.orderId }] })) }]);
    expect(reports[0]).toMatchObject({ busyMs: 12, splits: true, runs: [{ rows: 5, ms: 5 }, { rows: 5, ms: 5 }, { rows: 2, ms: 2 }] });
    await release();
    expect(lanes.stats).toMatchObject({ others: 3, slices: 4 });
  });

  it('when transitions get slower the slices get smaller, down to MIN_SLICE_ROWS, and places still go between them', async () => {
    const { store, log, release, running, clock } = scriptedStore();
    const lanes = new StoreLanes(store, () => {}, { sliceBudgetMs: 5, now: () => clock.ms });
    // 10 ms a transition, over the budget alone: slices keep their floor, so saga writes keep up.
    await measured(lanes, release, running, 10 * MIN_SLICE_ROWS);
    expect(lanes.sliceRows).toBe(MIN_SLICE_ROWS);
    log.length = 0;
    const answers: Array<{ value: unknown } | { error: unknown }> = [];
    lanes.submit(request('commitTransitions', [transitions('t', 3 * MIN_SLICE_ROWS)], answers));
    await running();
    lanes.submit(place('a', answers));
    await release(40);
    await release(1);
    // Asked for while the second slice runs.
    lanes.submit(place('b', answers));
    await release(40);
    await release(1);
    await release(40);
    const slice = (from: number) => `commit[${Array.from({ length: MIN_SLICE_ROWS }, (_, i) => `t${from + i}`).join(',')}]`;
    expect(log).toEqual([slice(0), 'places[a]', slice(MIN_SLICE_ROWS), 'places[b]', slice(2 * MIN_SLICE_ROWS)]);
    expect(answers).toHaveLength(3);
  });

  it('a slice that fails as a whole answers its own transitions with the error; the other slices commit', async () => {
    const { store, release, running, clock, failNextCommit } = scriptedStore();
    const lanes = new StoreLanes(store, () => {}, { sliceBudgetMs: 5, now: () => clock.ms });
    await measured(lanes, release, running, MIN_SLICE_ROWS * 2.5);
    expect(lanes.sliceRows).toBe(MIN_SLICE_ROWS);
    const answers: Array<{ value: unknown } | { error: unknown }> = [];
    failNextCommit();
    lanes.submit(request('commitTransitions', [transitions('t', MIN_SLICE_ROWS + 2)], answers));
    await release(5);
    await release(5);
    const failed = Array.from({ length: MIN_SLICE_ROWS }, () => ({ error: 'disk on fire' }));
    expect(answers).toEqual([{ value: [...failed, { events: [{ orderId: `t${MIN_SLICE_ROWS}` }] }, { events: [{ orderId: `t${MIN_SLICE_ROWS + 1}` }] }] }]);
  });
});


/**
 * The order store's run queue (order-db-lanes.ts): orders to accept go
 * ahead of every other operation waiting, and all those waiting when the
 * store frees up are committed in one transaction, so a place waits for
 * the one operation in progress, not for other places' trips. The store is
 * scripted: each operation runs until the test releases it, so order is
 * asserted, never time.
 */
import { describe, expect, it } from 'vitest';
import { MAX_PLACES_PER_COMMIT, StoreLanes, type LaneRequest, type LaneStore } from '../../src/order-db-lanes.js';
import type { PlaceOutcome, PlaceRequest } from '../../src/order-db.js';

/** A store whose operations each wait for the test's release; `log` says what ran, in order. */
function scriptedStore() {
  const log: string[] = [];
  const held: Array<() => void> = [];
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
    commitTransitions: other('commitTransitions'),
    events: other('events'),
    view: other('view'),
    saga: other('saga'),
    warmUp: other('warmUp'),
    noteFailedAttempt: other('noteFailedAttempt'),
    park: other('park'),
    dueSagas: other('dueSagas'),
    counts: other('counts'),
    parkedCount: other('parkedCount'),
  } as unknown as LaneStore;
  /** Releases the operation running now and waits until the lanes have moved on. */
  const release = async () => {
    for (let i = 0; i < 10 && held.length === 0; i++) await Promise.resolve();
    const next = held.shift();
    if (!next) throw new Error(`nothing is running (ran: ${log.join(' ')})`);
    next();
    for (let i = 0; i < 10; i++) await Promise.resolve();
  };
  /** Waits (a bounded number of microtask turns) until an operation is running. */
  const running = async () => {
    for (let i = 0; i < 10 && held.length === 0; i++) await Promise.resolve();
    if (held.length === 0) throw new Error('no operation started');
  };
  return { store, log, release, running, answerPlaces: (f: typeof placeAnswer) => (placeAnswer = f) };
}

function request(op: LaneRequest['op'], args: unknown[], answers: Array<{ value: unknown } | { error: unknown }>): LaneRequest {
  return { op, args, answer: (outcome) => answers.push(outcome) };
}

const place = (key: string, answers: Array<{ value: unknown } | { error: unknown }>) => request('place', [[key], key], answers);

describe('store run queue: places first, together', () => {
  it('places asked for while an operation runs go next, in one transaction, ahead of operations queued before them', async () => {
    const { store, log, release, running } = scriptedStore();
    const lanes = new StoreLanes(store, () => {});
    const answers: Array<{ value: unknown } | { error: unknown }> = [];
    lanes.submit(request('commitTransitions', ['batch-1'], answers));
    await running();
    lanes.submit(request('view', ['ord-1'], answers));
    for (const key of ['a', 'b', 'c']) lanes.submit(place(key, answers));
    await release();
    expect(log).toEqual(['commitTransitions(batch-1)', 'places[a,b,c]']);
    await release();
    expect(answers.slice(1, 4)).toEqual([{ value: { inserted: true } }, { value: { inserted: true } }, { value: { inserted: true } }]);
    // The read queued before the places ran only after them.
    expect(log).toEqual(['commitTransitions(batch-1)', 'places[a,b,c]', 'view(ord-1)']);
    await release();
    expect(lanes.stats).toEqual({ placeCommits: 1, places: 3, others: 2 });
  });

  it('a place arriving while places commit goes in the next transaction, still ahead of other work', async () => {
    const { store, log, release, running } = scriptedStore();
    const lanes = new StoreLanes(store, () => {});
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
    const { store, log, release, running } = scriptedStore();
    const lanes = new StoreLanes(store, () => {});
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
    const { store, release, running, answerPlaces } = scriptedStore();
    answerPlaces((batch) => batch.map((p) => (p.idempotencyKey === 'bad' ? { error: 'refused' } : { inserted: true })));
    const lanes = new StoreLanes(store, () => {});
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

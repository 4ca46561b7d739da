/**
 * Accepting an order does not wait for saga work. PGlite executes
 * synchronously; on the order service's own thread a backlog of saga writes
 * ran as one block, and a `checkout.place` arriving on a socket meanwhile
 * was read only after it, which is where the accept tail under load came
 * from. The store runs in a worker thread, accepting goes first at its gate,
 * and batches of transitions are sized to a time budget. Counted, not
 * timed: how many background operations finished between the place request
 * arriving and its answer, and how many turns the event loop made while the
 * store worked.
 */
import { cp, mkdtemp, rm } from 'node:fs/promises';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OrderStore, TRANSITIONS_PER_COMMIT, type PlaceResult } from '../../src/order-store.js';
import { advance } from '../../src/saga.js';
import { silentLogger } from 'sluice';
import { pgliteTemplate } from '../helpers/checkout.js';

let dir: string;
let store: OrderStore;
let keys = 0;
const cmd = () => ({ idempotencyKey: `accept-${++keys}`, customerId: 'c-1', items: [{ sku: 'A1', qty: 1 }] });

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sluice-accept-'));
  await cp(await pgliteTemplate(), join(dir, 'order'), { recursive: true });
  // The store's own lanes, without the place journal in front (checkout-place-journal.test.ts covers that).
  store = await OrderStore.open(join(dir, 'order'), silentLogger, 'order-1', 'worker', { maxPending: 0 });
  await store.warmUp(1);
}, 60_000);

afterAll(async () => {
  await store?.close();
  await rm(dir, { recursive: true, force: true });
});

/** A loopback socket pair: what the test writes on `out` arrives as a 'data' event on the server side. */
async function socketPair(): Promise<{ server: Server; out: Socket; incoming: Socket }> {
  const server = createServer();
  const accepted = new Promise<Socket>((resolve) => server.once('connection', resolve));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  const out = connect(port, '127.0.0.1');
  await new Promise<void>((resolve) => out.once('connect', resolve));
  return { server, out, incoming: await accepted };
}

describe('order store: accepting goes ahead of saga work', () => {
  it('a place request arriving on a socket behind a backlog of saga writes and reads waits for one of them at most', async () => {
    const placed: PlaceResult[] = [];
    for (let i = 0; i < 120; i++) placed.push(await store.place(cmd()));
    const { server, out, incoming } = await socketPair();
    try {
      const answered = new Promise<{ before: number; after: number; status: string }>((resolve, reject) => {
        incoming.once('data', () => {
          const before = store.backgroundOps;
          store.place(cmd()).then((r) => resolve({ before, after: store.backgroundOps, status: r.status }), reject);
        });
      });
      // The backlog: every order's next transition and two reads of each, all asked for at once.
      const start = store.backgroundOps;
      const work = [
        ...placed.map((p) => store.apply(p.orderId, advance(p.saga!, { kind: 'authorized', paymentId: `pay-${p.orderId}`, amountCents: p.saga!.amountCents }))),
        ...placed.flatMap((p) => [store.view(p.orderId), store.events(p.orderId, 1, 16)]),
      ];
      // The request is on its way while the backlog is queued; it is read on the next turn of the event loop.
      out.write('place');
      const { before, after, status } = await answered;
      expect(status).toBe('PENDING');
      // At most the operation in progress when the request was read finished before its answer...
      expect(after - before).toBeLessThanOrEqual(1);
      // ...while most of the backlog was still waiting (the request really was behind it).
      // (The first transition may go alone: the store was idle when it was asked for.)
      // (Batches hold up to TRANSITIONS_PER_COMMIT transitions; the run queue may split one into slices, which
      // counts once here, and the place goes between two slices.)
      const backlog = Math.ceil(placed.length / TRANSITIONS_PER_COMMIT) + 2 * placed.length;
      expect(after - start).toBeLessThan(backlog / 2);
      await Promise.all(work);
      expect(store.backgroundOps - start).toBeGreaterThanOrEqual(backlog);
      expect(store.backgroundOps - start).toBeLessThanOrEqual(backlog + 1);
    } finally {
      out.destroy();
      incoming.destroy();
      server.close();
    }
  });

  it('places asked for together are committed together, each answered as if alone', async () => {
    const before = (await store.counts()).total;
    const fresh = Array.from({ length: 30 }, () => cmd());
    const again = { ...fresh[3]! };
    const otherCart = { ...fresh[5]!, items: [{ sku: 'B2', qty: 2 }] };
    const busy = store.busy;
    // All asked for at once: after the first, the others wait together for the store and go in one transaction.
    const results = await Promise.allSettled([...fresh, again, otherCart].map((c) => store.place(c)));
    const values = results.map((r) => (r.status === 'fulfilled' ? r.value : r.reason));
    for (const v of values.slice(0, 30)) expect(v).toMatchObject({ status: 'PENDING', created: true });
    // The same key twice in one transaction: one order, the second answer finds the first's.
    expect(values[30]).toMatchObject({ orderId: (values[3] as PlaceResult).orderId, created: false });
    expect(values[31]).toMatchObject({ code: 'INVALID_ARGUMENT' });
    expect(store.busy.places - busy.places).toBe(32);
    // Committed together: far fewer transactions than places (the first may go alone, the store being idle).
    expect(store.busy.placeCommits - busy.placeCommits).toBeLessThanOrEqual(3);
    expect((await store.counts()).total - before).toBe(30);
    for (const v of values.slice(0, 30)) expect(await store.view((v as PlaceResult).orderId)).toMatchObject({ status: 'PENDING', lastSeq: 1 });
  });

  it('a transition asked for on an idle store waits for others to join its batch (the linger)', async () => {
    const placed: PlaceResult[] = [];
    for (let i = 0; i < 3; i++) placed.push(await store.place(cmd()));
    const authorized = (p: PlaceResult) => advance(p.saga!, { kind: 'authorized', paymentId: `pay-${p.orderId}`, amountCents: p.saga!.amountCents });
    const start = store.backgroundOps;
    const first = store.apply(placed[0]!.orderId, authorized(placed[0]!));
    // A later turn of the event loop: without the linger the first would already be committing alone.
    await new Promise((resolve) => setImmediate(resolve));
    const rest = placed.slice(1).map((p) => store.apply(p.orderId, authorized(p)));
    for (const events of await Promise.all([first, ...rest])) expect(events).toMatchObject([{ type: 'PaymentAuthorized', seq: 2 }]);
    expect(store.backgroundOps - start).toBe(1);
  });

  it('commits transitions asked for together in batches, and refuses only the stale one', async () => {
    const placed: PlaceResult[] = [];
    for (let i = 0; i < 70; i++) placed.push(await store.place(cmd()));
    const start = store.backgroundOps;
    const authorized = (p: (typeof placed)[number]) => advance(p.saga!, { kind: 'authorized', paymentId: `pay-${p.orderId}`, amountCents: p.saga!.amountCents });
    // The first order's transition is committed alone first, so its second copy in the batch below is stale.
    await store.apply(placed[0]!.orderId, authorized(placed[0]!));
    const results = await Promise.allSettled(placed.map((p) => store.apply(p.orderId, authorized(p))));
    expect(results[0]).toMatchObject({ status: 'rejected', reason: { message: expect.stringContaining('saga is in state RESERVING, not AUTHORIZING') } });
    for (const r of results.slice(1)) expect(r).toMatchObject({ status: 'fulfilled', value: [{ type: 'PaymentAuthorized', seq: 2 }] });
    // 1 alone, then 70 in batches of up to TRANSITIONS_PER_COMMIT (the first alone: asked for on an idle store).
    const batches = store.backgroundOps - start - 1;
    expect(batches).toBeGreaterThanOrEqual(Math.ceil(placed.length / TRANSITIONS_PER_COMMIT));
    expect(batches).toBeLessThanOrEqual(Math.ceil(placed.length / TRANSITIONS_PER_COMMIT) + 1);
    // The run queue committed them in slices of a few ms each: every transition committed once, in some slice.
    expect(store.busy.byOp.commitTransitions!.n).toBeGreaterThanOrEqual(batches + 1);
    for (const p of placed) {
      expect((await store.events(p.orderId, 1, 16)).map((e) => [e.type, e.seq])).toEqual([['OrderPlaced', 1], ['PaymentAuthorized', 2]]);
      expect(await store.view(p.orderId)).toMatchObject({ status: 'PENDING', lastSeq: 2 });
      expect(await store.saga(p.orderId)).toMatchObject({ state: 'RESERVING', attempts: 0 });
    }
  });

  it('the event loop keeps turning while the store works: PGlite runs in its worker, not on this thread', async () => {
    const placed: PlaceResult[] = [];
    for (let i = 0; i < 40; i++) placed.push(await store.place(cmd()));
    const start = store.backgroundOps;
    let turns = 0;
    let done = false;
    const spin = () => {
      turns++;
      if (!done) setImmediate(spin);
    };
    setImmediate(spin);
    // Reads one by one: each a trip into PGlite. On this thread each ran in one turn, between two turns.
    for (const p of placed) await store.events(p.orderId, 1, 16);
    done = true;
    const ops = store.backgroundOps - start;
    expect(ops).toBe(placed.length);
    // The loop turned while the operations ran, not just between them.
    expect(turns).toBeGreaterThan(2 * ops);
  });

  it('warming up leaves the store as it was', async () => {
    const before = await store.counts();
    await store.warmUp(2);
    expect(await store.counts()).toEqual(before);
    expect(await store.dueSagas([], 1_000, Date.now())).not.toContain(expect.stringContaining('warm'));
  });
});

describe("order store on the service's own thread (storeThread: 'service')", () => {
  it('accepts first and together, commits transitions, and answers a place asked for behind saga work after at most one operation', async () => {
    const own = await mkdtemp(join(tmpdir(), 'sluice-accept-inline-'));
    await cp(await pgliteTemplate(), join(own, 'order'), { recursive: true });
    const inline = await OrderStore.open(join(own, 'order'), silentLogger, 'order-1', 'service', { maxPending: 0 });
    try {
      await inline.warmUp(1);
      const placed = await Promise.all(Array.from({ length: 20 }, () => inline.place(cmd())));
      expect(inline.busy.places).toBe(20);
      expect(inline.busy.placeCommits).toBeLessThanOrEqual(2);
      const start = inline.backgroundOps;
      const work = placed.map((p) => inline.apply(p.orderId, advance(p.saga!, { kind: 'authorized', paymentId: `pay-${p.orderId}`, amountCents: p.saga!.amountCents })));
      const reads = placed.map((p) => inline.view(p.orderId));
      // Asked for after all that work: it goes ahead of every background operation not yet running.
      const before = inline.backgroundOps;
      const late = await inline.place(cmd());
      expect(late.status).toBe('PENDING');
      expect(inline.backgroundOps - before).toBeLessThanOrEqual(1);
      await Promise.all([...work, ...reads]);
      expect(inline.backgroundOps - start).toBeGreaterThan(placed.length);
      for (const p of placed) expect(await inline.saga(p.orderId)).toMatchObject({ state: 'RESERVING' });
    } finally {
      await inline.close();
      await rm(own, { recursive: true, force: true });
    }
  });
});

/**
 * The place journal on the real order store (PGlite in its worker): a place
 * is answered once its line is written, before its row is committed; the
 * journaled orders are committed together; a read waits for the commit; a
 * key is never placed twice, journaled or not; the journal's bound sends
 * places through the store; and what a kill -9 left in the journal is
 * placed on the next open, its sagas due. Counted, not timed.
 */
import { cp, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from 'sluice';
import { OrderStore, type PlaceResult } from '../../src/order-store.js';
import { advance } from '../../src/saga.js';
import { pgliteTemplate } from '../helpers/checkout.js';
import { spawnGroup, stopProcessGroup } from '../../../../test/helpers/process-group.js';

const checkoutDir = fileURLToPath(new URL('../..', import.meta.url));
const placer = fileURLToPath(new URL('../helpers/journal-placer.ts', import.meta.url));
let root: string;
let keys = 0;
const cmd = (items = [{ sku: 'A1', qty: 1 }]) => ({ idempotencyKey: `journal-${++keys}`, customerId: 'c-1', items });

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'sluice-journal-store-'));
}, 60_000);
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

async function freshStore(name: string, use: Parameters<typeof OrderStore.open>[4] = {}): Promise<{ store: OrderStore; dir: string }> {
  const dir = join(root, name);
  await cp(await pgliteTemplate(), dir, { recursive: true });
  const store = await OrderStore.open(dir, silentLogger, 'order-1', 'worker', use);
  await store.warmUp(1);
  return { store, dir };
}

describe('order store with the place journal', () => {
  it('answers a place before its row is committed, commits the orders placed within the linger together, and a read waits for the commit', async () => {
    const { store } = await freshStore('linger', { lingerMs: 60_000 });
    try {
      const busy = store.busy;
      const placed = await Promise.all(Array.from({ length: 20 }, () => store.place(cmd())));
      for (const p of placed) expect(p).toMatchObject({ status: 'PENDING', created: true });
      // Answered with nothing committed yet: the lines are in the journal, the commit lingers.
      expect(store.busy.places - busy.places).toBe(0);
      expect(store.journalStats).toMatchObject({ journaled: 20, pending: 20 });
      expect((await store.counts()).pending).toBe(20);
      // A read of a journaled order waits for its commit (which it does not hasten; close does, below).
      let viewed = false;
      const view = store.view(placed[7]!.orderId).then((v) => ((viewed = true), v));
      await new Promise((r) => setImmediate(r));
      expect(viewed).toBe(false);
      // Closing commits what lingers, all 20 in one transaction or few, and answers the read.
      const closing = store.close();
      expect(await view).toMatchObject({ orderId: placed[7]!.orderId, status: 'PENDING', lastSeq: 1 });
      await closing;
      expect(await Promise.all(placed.map((p) => p.stored))).toEqual(Array(20).fill(true));
      expect(store.busy.places - busy.places).toBe(20);
      expect(store.busy.placeCommits - busy.placeCommits).toBeLessThanOrEqual(2);
      expect(store.journalStats.pending).toBe(0);
    } finally {
      await store.close().catch(() => {});
    }
  });

  it("a saga offered before its journaled order is committed writes after the commit, not before", async () => {
    // The order's commit lingers longer than a batch of transitions does (TRANSITION_LINGER_MS, 50 ms).
    const { store } = await freshStore('order-first', { lingerMs: 300 });
    try {
      const p = await store.place(cmd());
      let storedFirst = false;
      void p.stored!.then(() => (storedFirst = true));
      const events = await store.apply(p.orderId, advance(p.saga!, { kind: 'authorized', paymentId: 'pay-1', amountCents: p.saga!.amountCents }));
      expect(storedFirst).toBe(true);
      expect(events).toMatchObject([{ type: 'PaymentAuthorized', seq: 2 }]);
      expect(await store.saga(p.orderId)).toMatchObject({ state: 'RESERVING' });
    } finally {
      await store.close();
    }
  });

  it('never places a key twice: the same key while journaled or after its commit finds the order, another cart is refused', async () => {
    const { store, dir } = await freshStore('keys', { lingerMs: 5 });
    try {
      const first = cmd();
      const a = await store.place(first);
      // While journaled: answered from the journal, no second line.
      expect(await store.place({ ...first })).toEqual({ orderId: a.orderId, status: 'PENDING', created: false });
      await expect(store.place({ ...first, items: [{ sku: 'B2', qty: 2 }] })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
      expect(store.journalStats.journaled).toBe(1);
      expect(await a.stored).toBe(true);
      // After its commit: the filter knows the key, so the place goes through the store, which finds the order.
      expect(await store.place({ ...first })).toMatchObject({ orderId: a.orderId, created: false });
      await expect(store.place({ ...first, customerId: 'c-2' })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
      expect(store.journalStats.keyKnown).toBe(2);
      expect((await store.counts()).total).toBe(1);
      await store.close();
      // Reopened: the filter is filled from the store, so the key is known before any place.
      const again = await OrderStore.open(dir, silentLogger, 'order-1', 'worker', { lingerMs: 5 });
      try {
        expect(await again.place({ ...first })).toMatchObject({ orderId: a.orderId, created: false });
        expect(again.journalStats).toMatchObject({ journaled: 0, keyKnown: 1 });
      } finally {
        await again.close();
      }
    } finally {
      await store.close().catch(() => {});
    }
  });

  it('past its bound, a place waits for its own commit; every order is committed once', async () => {
    const { store } = await freshStore('bound', { maxPending: 3, lingerMs: 60_000 });
    try {
      const busy = store.busy;
      const journaled = await Promise.all(Array.from({ length: 3 }, () => store.place(cmd())));
      expect(store.busy.places - busy.places).toBe(0);
      // The journal is full: this one goes through the store and is answered after its commit.
      const through = await store.place(cmd());
      expect(through).toMatchObject({ created: true });
      expect(store.busy.places - busy.places).toBe(1);
      expect(store.journalStats).toMatchObject({ journaled: 3, pending: 3, full: 1, capacity: 3 });
      await store.close();
      expect(await Promise.all([...journaled, through].map((p: PlaceResult) => p.stored))).toEqual([true, true, true, true]);
      expect(store.busy.places - busy.places).toBe(4);
    } finally {
      await store.close().catch(() => {});
    }
  });

  it("runs the store's worker thread at a lower CPU priority than the service thread (Linux: per-thread nice)", async () => {
    const niceOf = async () => {
      const out: number[] = [];
      for (const tid of await readdir('/proc/self/task')) {
        // Fields after the command's closing parenthesis: state is the first, nice the 17th.
        const stat = await readFile(`/proc/self/task/${tid}/stat`, 'utf8').catch(() => '');
        if (stat) out.push(Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16]));
      }
      return out;
    };
    const { store } = await freshStore('nice', { workerNice: 7 });
    try {
      expect((await niceOf()).filter((n) => n === 7)).toHaveLength(1);
      expect(os.getPriority()).toBe(0);
    } finally {
      await store.close();
    }
    expect((await niceOf()).filter((n) => n === 7)).toHaveLength(0);
  });

  it('with the journal off (maxPending 0), every place is answered after its commit', async () => {
    const { store } = await freshStore('off', { maxPending: 0 });
    try {
      const busy = store.busy;
      await store.place(cmd());
      expect(store.busy.places - busy.places).toBe(1);
      expect(store.journalStats).toMatchObject({ journaled: 0, capacity: 0 });
    } finally {
      await store.close();
    }
  });

  it('kill -9 of a process whose answered orders were only in the journal: the next open places them, once, and their sagas are due', async () => {
    const dir = join(root, 'killed');
    await cp(await pgliteTemplate(), dir, { recursive: true });
    const child = spawnGroup(process.execPath, ['--conditions=sluice-source', '--import', 'tsx', placer, dir, '12'], { cwd: checkoutDir, env: { ...process.env } });
    let ids: string[] = [];
    try {
      const m = await child.waitFor(/pending (\d+) committed (\d+)\n/);
      // All 12 answered, none committed: the kill lands with every answered order only in the journal.
      expect(Number(m[1])).toBe(12);
      expect(Number(m[2])).toBe(0);
      ids = [...child.output().matchAll(/placed (\S+)\n/g)].map((x) => x[1]!);
      process.kill(-child.proc.pid!, 'SIGKILL');
      await child.exited;
    } finally {
      await stopProcessGroup(child.proc.pid!);
    }
    expect(ids).toHaveLength(12);
    expect((await readdir(`${dir}.places`)).length).toBeGreaterThan(0);

    const store = await OrderStore.open(dir, silentLogger);
    try {
      expect(store.journalStats.recovered).toBe(12);
      // The lines are deleted once placed again.
      expect(await readdir(`${dir}.places`)).toEqual([]);
      await store.warmUp(1);
      expect((await store.counts()).pending).toBe(12);
      for (const id of ids) expect(await store.view(id)).toMatchObject({ status: 'PENDING', lastSeq: 1 });
      expect((await store.dueSagas([], 100, Date.now())).sort()).toEqual([...ids].sort());
      // A client retrying one of them by key finds its order.
      expect(await store.place({ idempotencyKey: 'journal-kill-4', customerId: 'c-kill', items: [{ sku: 'A1', qty: 2 }] })).toMatchObject({ orderId: ids[4], created: false });
    } finally {
      await store.close();
    }
    // Opened again: nothing left to read back, nothing placed twice.
    const again = await OrderStore.open(dir, silentLogger);
    try {
      expect(again.journalStats.recovered).toBe(0);
      await again.warmUp(1);
      expect((await again.counts()).total).toBe(12);
    } finally {
      await again.close();
    }
  }, 120_000);
});

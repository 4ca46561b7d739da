import { describe, expect, it } from 'vitest';
import { MEMORY_KINDS, MemoryBudget, type MemoryKind } from '../../src/rsocket/memory-budget.js';

/** A budget whose over-limit check runs when the test says, and a record of what was shed. */
function budget(limit: number) {
  const pending: Array<() => void> = [];
  const shed: Array<[MemoryKind, number]> = [];
  const b = new MemoryBudget(limit, { schedule: (fn) => pending.push(fn), onShed: (kind, bytes) => shed.push([kind, bytes]) });
  return {
    b,
    shed,
    pending,
    runChecks() {
      for (const fn of pending.splice(0)) fn();
    },
  };
}

describe('MemoryBudget', () => {
  it('keeps each kind apart, whatever order holders of the kinds report in', () => {
    const { b } = budget(Infinity);
    const holders = MEMORY_KINDS.map((kind, i) => [b.holder(kind, { shed() {} }), i + 1] as const);
    for (const [h, i] of [...holders].reverse()) h.add(i * 10);
    for (const [h, i] of holders) h.add(i);
    expect(MEMORY_KINDS.map((k) => b.usedBy(k))).toEqual([11, 22, 33, 44, 55]);
    expect(b.used).toBe(165);
    holders[2]![0].release();
    expect(MEMORY_KINDS.map((k) => b.usedBy(k))).toEqual([11, 22, 0, 44, 55]);
  });

  it('keeps the total and per-kind sums as holders report', () => {
    const { b } = budget(Infinity);
    const r = b.holder('reassembly', { shed() {} });
    const o = b.holder('outbound', { shed() {} });
    r.add(100);
    r.add(50);
    o.set(1000);
    o.set(400);
    expect([b.used, b.usedBy('reassembly'), b.usedBy('outbound'), b.usedBy('prefetch')]).toEqual([550, 150, 400, 0]);
    r.release();
    r.add(999);
    expect([b.used, b.usedBy('reassembly')]).toEqual([400, 0]);
    expect(b.pressure).toBe(0);
  });

  it('under the limit, nothing is scheduled and nothing is shed', () => {
    const { b, pending } = budget(1000);
    b.holder('prefetch', { shed: () => expect.unreachable() }).set(1000);
    expect(pending).toEqual([]);
    expect(b.pressure).toBe(1);
  });

  it('over the limit, sheds the biggest holders first, whatever their kind, until back under it; one check per burst', () => {
    const { b, shed, pending, runChecks } = budget(1000);
    const order: string[] = [];
    const make = (name: string, kind: MemoryKind, bytes: number) => {
      const h = b.holder(kind, {
        shed: (reason) => {
          order.push(`${name}: ${reason}`);
          h.set(0);
        },
      });
      h.set(bytes);
      return h;
    };
    make('a', 'prefetch', 300);
    make('b', 'outbound', 500);
    make('c', 'reassembly', 400);
    make('d', 'prefetch', 100);
    expect(pending).toHaveLength(1);
    runChecks();
    expect(order).toEqual([
      "b: gateway memory budget: peers made it hold 1300 bytes (limit 1000); the largest holder was this connection's unread outbound bytes, 500 bytes",
    ]);
    expect(shed).toEqual([['outbound', 500]]);
    expect(b.used).toBe(800);
    make('e', 'outbound', 700);
    make('f', 'reassembly', 250);
    runChecks();
    expect(order.map((o) => o[0])).toEqual(['b', 'e', 'c']);
    expect(b.used).toBe(650);
  });

  it('a holder that frees its bytes stays in the budget and reports again; one that cannot leaves it', () => {
    const { b, runChecks } = budget(100);
    const freeing = b.holder('reassembly', { shed: () => freeing.set(0) });
    const stuck = b.holder('outbound', { shed() {} });
    freeing.set(150);
    runChecks();
    expect(b.used).toBe(0);
    freeing.set(60);
    stuck.set(90);
    runChecks();
    // The stuck holder was bigger: shed, could not free, released; then the budget was under the limit again.
    expect([b.used, freeing.bytes]).toEqual([60, 60]);
    stuck.set(500);
    expect(b.used).toBe(60);
  });

  it('re-reads holders whose bytes drift before deciding to shed', () => {
    const { b, shed, runChecks } = budget(1000);
    let actual = 2000;
    const o = b.holder('outbound', { shed: () => o.release(), refresh: () => actual });
    o.set(2000);
    actual = 10;
    runChecks();
    expect(shed).toEqual([]);
    expect(b.used).toBe(10);
  });

  it('asks reclaimable holders (cached answers) for the bytes over the limit before shedding anything live; they do not count as pressure', () => {
    const { b, shed, runChecks } = budget(1000);
    let asked = 0;
    const cache = b.holder('cache', {
      reclaim: (bytes) => {
        asked = bytes;
        cache.add(-Math.min(bytes, cache.bytes));
      },
      shed: () => expect.unreachable(),
    });
    cache.set(700);
    expect(b.pressure).toBe(0);
    const live = b.holder('prefetch', { shed: () => expect.unreachable() });
    live.set(500);
    expect(b.pressure).toBe(0.5);
    runChecks();
    expect(asked).toBe(200);
    expect([b.used, b.usedBy('cache'), b.usedBy('prefetch')]).toEqual([1000, 500, 500]);
    expect(shed).toEqual([]);
    // When the cache has given all it had and the total is still over, live holders are shed as before.
    const more = b.holder('outbound', { shed: () => more.set(0) });
    more.set(900);
    runChecks();
    expect(b.usedBy('cache')).toBe(0);
    expect(shed).toEqual([['outbound', 900]]);
  });

  it('refuses a negative or NaN limit', () => {
    expect(() => new MemoryBudget(-1)).toThrow(RangeError);
    expect(() => new MemoryBudget(NaN)).toThrow(RangeError);
  });
});

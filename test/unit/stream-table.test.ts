/**
 * The connection's stream table agrees with a Map over any sequence of adds,
 * deletes and lookups (consecutive ids as allocated, ids a peer aimed at one
 * slot, ids near the 2^31 wrap), and gives its memory back when emptied.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { StreamTable } from '../../src/rsocket/stream-table.js';

interface Entry {
  readonly id: number;
}

type Op = { kind: 'add'; id: number } | { kind: 'delete'; id: number } | { kind: 'get'; id: number };

const MAX_ID = 0x7fffffff;

/** Ids as the three sources make them: consecutive from a counter, spaced by a large power of two, anywhere up to 2^31 - 1. */
const ids = fc.oneof(fc.integer({ min: 1, max: 300 }), fc.integer({ min: 0, max: 40 }).map((k) => (k << 24) + 1), fc.integer({ min: 1, max: MAX_ID }));

/**
 * Operations on ids drawn from a pool of up to 24: the table stays small, so
 * ids share slots and runs often (a deletion must move the rest of its run).
 */
const ops = fc.uniqueArray(ids, { minLength: 1, maxLength: 24 }).chain((pool) => {
  const id = fc.constantFrom(...pool);
  return fc.array(
    fc.oneof(
      { weight: 4, arbitrary: id.map((x): Op => ({ kind: 'add', id: x })) },
      { weight: 3, arbitrary: id.map((x): Op => ({ kind: 'delete', id: x })) },
      { weight: 3, arbitrary: id.map((x): Op => ({ kind: 'get', id: x })) },
    ),
    { maxLength: 300 },
  );
});

/** The size the table's private array has now (its memory bound). */
function capacity(t: StreamTable<Entry>): number {
  return (t as unknown as { slots: unknown[] }).slots.length;
}

describe('StreamTable', () => {
  it('agrees with a Map on every add, delete and lookup', () => {
    fc.assert(
      fc.property(ops, (list) => {
        const table = new StreamTable<Entry>();
        const model = new Map<number, Entry>();
        for (const op of list) {
          if (op.kind === 'add') {
            // The connection adds only ids not open (it checks first).
            if (model.has(op.id)) continue;
            const e = { id: op.id };
            table.add(e);
            model.set(op.id, e);
          } else if (op.kind === 'delete') {
            const e = model.get(op.id);
            // Deleting an entry that is not the table's (a stale stream with a reused id) changes nothing.
            table.delete(e ?? { id: op.id });
            model.delete(op.id);
          } else {
            expect(table.get(op.id)).toBe(model.get(op.id));
          }
          expect(table.size).toBe(model.size);
        }
        for (const [id, e] of model) expect(table.get(id)).toBe(e);
        expect(new Set(table.values())).toEqual(new Set(model.values()));
      }),
      { numRuns: 500 },
    );
  });

  it('leaves a different entry with the same id in place', () => {
    const table = new StreamTable<Entry>();
    const open = { id: 7 };
    table.add(open);
    table.delete({ id: 7 });
    expect(table.get(7)).toBe(open);
    expect(table.size).toBe(1);
  });

  it('stays at most half full, and shrinks back once emptied', () => {
    const table = new StreamTable<Entry>();
    const entries = Array.from({ length: 10_000 }, (_, i) => ({ id: 2 * i + 1 }));
    for (const e of entries) {
      table.add(e);
      expect(table.size * 2).toBeLessThanOrEqual(capacity(table));
    }
    expect(capacity(table)).toBe(32_768);
    for (const e of entries) table.delete(e);
    expect(table.size).toBe(0);
    expect(capacity(table)).toBe(8);
    expect(table.values()).toEqual([]);
  });

  it('finds ids a peer aimed at one slot (spaced by 2^24) as it finds consecutive ones', () => {
    const table = new StreamTable<Entry>();
    const aimed = Array.from({ length: 100 }, (_, i) => ({ id: (i << 24) + 1 }));
    for (const e of aimed) table.add(e);
    for (const e of aimed) expect(table.get(e.id)).toBe(e);
    expect(table.get(3)).toBeUndefined();
  });
});

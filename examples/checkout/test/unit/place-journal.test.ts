/**
 * The place journal's file handling: what is appended is read back after a
 * stop, a line cut short by a crash is skipped, a corrupt line fails the
 * open, segments are deleted once their lines are committed, and the
 * number of pending lines is bounded.
 */
import { appendFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { PlaceJournal } from '../../src/place-journal.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
const fresh = () => {
  const d = mkdtempSync(join(tmpdir(), 'sluice-journal-'));
  dirs.push(d);
  return join(d, 'order.places');
};
const files = (dir: string) => readdirSync(dir).sort();

describe('place journal', () => {
  it('reads back every line a run left without committing it, in order, and deletes them once placed again', () => {
    const dir = fresh();
    const { journal, recovered } = PlaceJournal.open(dir);
    expect(recovered).toEqual([]);
    const a = journal.append('k-1', ['ord-1', 'k-1', { nested: [1, 'two'] }])!;
    const b = journal.append('k-2', ['ord-2', 'k-2'])!;
    journal.append('k-3', ['ord-3', 'k-3']);
    journal.done(b);
    expect(journal.pending).toBe(2);
    // A stop without committing a and k-3 (as a kill -9 would leave it: nothing closed).
    const again = PlaceJournal.open(dir);
    // Every line is read back, committed or not: placing is idempotent by key, so b placed again is found.
    expect(again.recovered.map((r) => r.key)).toEqual(['k-1', 'k-2', 'k-3']);
    expect(again.recovered[0]).toEqual({ seq: a, key: 'k-1', params: ['ord-1', 'k-1', { nested: [1, 'two'] }] });
    again.journal.discardRecovered();
    const n = again.journal.append('k-4', ['ord-4', 'k-4'])!;
    // The new run writes a new segment after the last one read.
    expect(files(dir)).toEqual(['places-00000002.jsonl']);
    again.journal.done(n);
    again.journal.close();
    // Nothing pending at a clean stop: no journal left.
    expect(files(dir)).toEqual([]);
    expect(PlaceJournal.open(dir).recovered).toEqual([]);
  });

  it('skips a last line cut short by a crash (never answered), and fails the open on a corrupt line before it', () => {
    const dir = fresh();
    const { journal } = PlaceJournal.open(dir);
    journal.append('k-1', ['ord-1']);
    const [file] = files(dir);
    appendFileSync(join(dir, file!), '{"seq":2,"key":"k-2","par');
    expect(PlaceJournal.open(dir).recovered.map((r) => r.key)).toEqual(['k-1']);

    const bad = fresh();
    PlaceJournal.open(bad);
    writeFileSync(join(bad, 'places-00000001.jsonl'), '{"seq":1,"key":"k-1","params":[]}\nnot json\n{"seq":3,"key":"k-3","params":[]}\n');
    expect(() => PlaceJournal.open(bad)).toThrow(/places-00000001\.jsonl line 2 is not a JSON line; the journal is corrupt/);
    writeFileSync(join(bad, 'places-00000001.jsonl'), '{"seq":1,"key":"k-1"}\n');
    expect(() => PlaceJournal.open(bad)).toThrow(/line 1 is not a journaled order/);
  });

  it('starts a new segment when the last is full and deletes a segment once every line in it is committed', () => {
    const dir = fresh();
    const { journal } = PlaceJournal.open(dir, { segmentBytes: 100 });
    const seqs = Array.from({ length: 6 }, (_, i) => journal.append(`key-${i}`, ['x'.repeat(40)])!);
    // About 80 bytes a line: two lines per segment.
    expect(files(dir)).toHaveLength(3);
    journal.done(seqs[0]!);
    expect(files(dir)).toHaveLength(3);
    journal.done(seqs[1]!);
    expect(files(dir)).toHaveLength(2);
    journal.done(seqs[3]!);
    journal.done(seqs[2]!);
    expect(files(dir)).toHaveLength(1);
    // The active segment stays while lines are pending in it, and when it empties it is kept for the next line...
    journal.done(seqs[4]!);
    journal.done(seqs[5]!);
    expect(files(dir)).toHaveLength(1);
    // ...until the next line starts a new one (the full, empty one is then deleted).
    journal.append('key-6', ['y']);
    expect(files(dir)).toHaveLength(1);
    expect(readFileSync(join(dir, files(dir)[0]!), 'utf8')).toContain('key-6');
    expect(journal.segmentCount).toBe(1);
  });

  it('refuses a line past maxPending (the caller places through the store) and takes lines again as others commit', () => {
    const dir = fresh();
    const { journal } = PlaceJournal.open(dir, { maxPending: 3 });
    const seqs = ['a', 'b', 'c'].map((k) => journal.append(k, [k]));
    expect(seqs.every((s) => typeof s === 'number')).toBe(true);
    expect(journal.append('d', ['d'])).toBeUndefined();
    expect(journal.pending).toBe(3);
    journal.done(seqs[1]!);
    expect(journal.append('d', ['d'])).toBeTypeOf('number');
    expect(PlaceJournal.open(dir).recovered.map((r) => r.key)).toEqual(['a', 'b', 'c', 'd']);
  });
});

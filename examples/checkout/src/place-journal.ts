/**
 * The order service's place journal: orders accepted and not yet committed
 * to the store, one line of JSON each, appended before the place is
 * answered. With it a place costs one write on the service thread instead
 * of a round trip to the store's worker and a transaction of its own; the
 * journaled orders then go to the store together, a few per transaction
 * (order-store.ts), and each line is forgotten once its row is committed.
 *
 * Durability is the store's: a line is written to the file (the page cache)
 * before the answer, with no flush to the disk, like PGlite's commits
 * (its fdatasync is a no-op). A kill -9 of the service keeps both; a power
 * cut may lose both. On open, whatever lines the last run left are read
 * back and placed again (placing is idempotent by key), before the service
 * takes any order.
 *
 * Bounded: at most `maxPending` lines not yet committed (append refuses the
 * next, and the place goes through the store as before), and segments of
 * about `segmentBytes`: a new one starts when the last is full, and a
 * segment is deleted when every line in it is committed, so the files hold
 * about one segment plus the pending lines.
 */
import { closeSync, mkdirSync, openSync, readdirSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';

/** Lines not yet committed at most (PlaceJournalOptions.maxPending). */
export const MAX_JOURNALED_PLACES = 512;
/** Bytes after which the next line starts a new segment (PlaceJournalOptions.segmentBytes). */
export const JOURNAL_SEGMENT_BYTES = 1 << 20;

/** One accepted order in the journal: its idempotency key and its row values (as the store's place takes them). */
export interface JournalRecord {
  readonly seq: number;
  readonly key: string;
  readonly params: readonly unknown[];
}

export interface PlaceJournalOptions {
  readonly maxPending?: number;
  readonly segmentBytes?: number;
}

interface Segment {
  readonly no: number;
  readonly path: string;
  /** Lines appended and not yet committed. */
  open: number;
  bytes: number;
}

const SEGMENT_NAME = /^places-(\d{8})\.jsonl$/;

export class PlaceJournal {
  private readonly segments = new Map<number, Segment>();
  /** Which segment holds each pending line. */
  private readonly where = new Map<number, Segment>();
  private active: Segment | undefined;
  private fd: number | undefined;
  private seq = 0;
  private nextSegment: number;
  private readonly maxPending: number;
  private readonly segmentBytes: number;
  private broken: Error | undefined;

  private constructor(
    private readonly dir: string,
    /** Segments the last run left, deleted once their lines are placed again (discardRecovered). */
    private readonly leftover: readonly string[],
    lastSegment: number,
    options: PlaceJournalOptions,
  ) {
    this.nextSegment = lastSegment + 1;
    this.maxPending = options.maxPending ?? MAX_JOURNALED_PLACES;
    this.segmentBytes = options.segmentBytes ?? JOURNAL_SEGMENT_BYTES;
  }

  /**
   * Opens the journal in `dir` (created if missing) and reads back what the
   * last run left: every complete line, in order. A last line cut short (the
   * process died inside the write, before the place was answered) is
   * skipped; any other line that does not parse is corruption and fails the
   * open, naming the file and line, rather than losing an accepted order.
   */
  static open(dir: string, options: PlaceJournalOptions = {}): { journal: PlaceJournal; recovered: JournalRecord[] } {
    mkdirSync(dir, { recursive: true });
    const names = readdirSync(dir).filter((f) => SEGMENT_NAME.test(f)).sort();
    const recovered: JournalRecord[] = [];
    for (const name of names) {
      const text = readFileSync(join(dir, name), 'utf8');
      const lines = text.split('\n');
      // After the last newline: empty, or a line the process did not finish writing.
      lines.pop();
      lines.forEach((line, i) => recovered.push(parseLine(line, `${join(dir, name)} line ${i + 1}`)));
    }
    const last = names.length > 0 ? Number(SEGMENT_NAME.exec(names[names.length - 1]!)![1]) : 0;
    return { journal: new PlaceJournal(dir, names, last, options), recovered };
  }

  /** Lines appended and not yet committed. */
  get pending(): number {
    return this.where.size;
  }

  /** Lines pending at most (maxPending). */
  get capacity(): number {
    return this.maxPending;
  }

  /** Segment files this journal holds now (the active one included). */
  get segmentCount(): number {
    return this.segments.size;
  }

  /** Why appends stopped (a failed write), if they did. */
  get failure(): Error | undefined {
    return this.broken;
  }

  /**
   * Appends one accepted order; returns its sequence number, or undefined
   * when the journal is full (maxPending lines pending) or stopped after a
   * failed write: the caller then places the order through the store.
   */
  append(key: string, params: readonly unknown[]): number | undefined {
    if (this.broken || this.where.size >= this.maxPending) return undefined;
    const seq = ++this.seq;
    const line = Buffer.from(`${JSON.stringify({ seq, key, params })}\n`, 'utf8');
    const segment = this.segmentFor();
    try {
      // One write of the whole line: on a regular file it lands whole in the page cache or fails.
      let off = 0;
      while (off < line.length) off += writeSync(this.fd!, line, off, line.length - off);
    } catch (err) {
      // The file may now end in part of a line that the next line would follow: stop appending.
      this.broken = err as Error;
      return undefined;
    }
    segment.open++;
    segment.bytes += line.length;
    this.where.set(seq, segment);
    return seq;
  }

  /** The line `seq` is committed to the store: forgotten, and its segment deleted once nothing in it is pending. */
  done(seq: number): void {
    const segment = this.where.get(seq);
    if (!segment) return;
    this.where.delete(seq);
    segment.open--;
    if (segment.open === 0 && segment !== this.active) this.drop(segment);
  }

  /** Deletes what the last run left, once every line read back has been placed again. */
  discardRecovered(): void {
    for (const name of this.leftover) unlinkSync(join(this.dir, name));
  }

  /** Closes the active segment; deletes it when nothing in it is pending (a clean stop leaves no journal). */
  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
    const active = this.active;
    this.active = undefined;
    if (active && active.open === 0) this.drop(active);
  }

  /** The segment the next line goes to: a new one when there is none yet or the last is full. */
  private segmentFor(): Segment {
    const current = this.active;
    if (current && current.bytes < this.segmentBytes) return current;
    if (this.fd !== undefined) closeSync(this.fd);
    const no = this.nextSegment++;
    const path = join(this.dir, `places-${String(no).padStart(8, '0')}.jsonl`);
    this.fd = openSync(path, 'a');
    const segment: Segment = { no, path, open: 0, bytes: 0 };
    this.segments.set(no, segment);
    this.active = segment;
    if (current && current.open === 0) this.drop(current);
    return segment;
  }

  private drop(segment: Segment): void {
    this.segments.delete(segment.no);
    unlinkSync(segment.path);
  }
}

function parseLine(line: string, where: string): JournalRecord {
  let r: unknown;
  try {
    r = JSON.parse(line);
  } catch {
    throw new Error(`place journal: ${where} is not a JSON line; the journal is corrupt (an accepted order may be in it: repair or remove the file by hand)`);
  }
  const { seq, key, params } = (r ?? {}) as Partial<JournalRecord>;
  if (typeof seq !== 'number' || typeof key !== 'string' || !Array.isArray(params)) {
    throw new Error(`place journal: ${where} is not a journaled order (seq, key, params); the journal is corrupt`);
  }
  return { seq, key, params };
}

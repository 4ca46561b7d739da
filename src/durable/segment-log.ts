/**
 * The files of one durable route: append-only segments `seg-00000001.log`,
 * … in the route's directory. Appends are group-committed: while one write
 * and fdatasync are in progress, later records gather and go out together
 * in the next, so a burst of commands costs one fsync per batch rather than
 * one each. A record's promise resolves only after its fsync.
 *
 * Replay reads every segment in order and cuts a torn tail off the last
 * one. The queue above decides when a segment holds nothing live any more;
 * `remove` then deletes its file (compaction by whole segments).
 */
import { mkdir, open, readdir, readFile, rm, truncate, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { decodeRecords, encodeRecord, type LogRecord } from './log-record.js';

export interface SegmentLogOptions {
  /** A segment is closed and a new one started once it reaches this many bytes. */
  segmentBytes: number;
}

export interface ReplayedRecord {
  record: LogRecord;
  segment: number;
}

const SEGMENT = /^seg-(\d{8})\.log$/;
const name = (n: number) => `seg-${String(n).padStart(8, '0')}.log`;

interface Pending {
  buf: Buffer;
  segment: number;
  resolve: () => void;
  reject: (e: unknown) => void;
}

export class SegmentLog {
  private pending: Pending[] = [];
  private flushing: Promise<void> | undefined;
  private activeBytes: number;
  private closed = false;
  /** Set when a write or fsync failed: the log refuses everything after it rather than guess what reached the disk. */
  private broken: Error | undefined;
  /** The segment `fh` is open on; behind `active` until the flush loop reaches a record of the new segment. */
  private fileSegment: number;
  /** Segments on disk (active included), oldest first. */
  readonly segments: number[];

  private constructor(
    private readonly dir: string,
    private readonly options: SegmentLogOptions,
    private fh: FileHandle,
    private active: number,
    activeBytes: number,
    segments: number[],
  ) {
    this.activeBytes = activeBytes;
    this.segments = segments;
    this.fileSegment = active;
  }

  /** Opens (creating) the log in `dir` and returns it with every whole record on disk, oldest first. */
  static async open(dir: string, options: SegmentLogOptions): Promise<{ log: SegmentLog; replayed: ReplayedRecord[] }> {
    await mkdir(dir, { recursive: true });
    const segments = (await readdir(dir))
      .map((f) => SEGMENT.exec(f))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => Number(m[1]))
      .sort((a, b) => a - b);
    const replayed: ReplayedRecord[] = [];
    let lastBytes = 0;
    for (const [i, n] of segments.entries()) {
      const file = join(dir, name(n));
      const bytes = await readFile(file);
      const { records, validBytes } = decodeRecords(bytes);
      for (const record of records) replayed.push({ record, segment: n });
      // Only the last segment can have been written when the process died: cut its torn tail.
      if (i === segments.length - 1 && validBytes < bytes.length) await truncate(file, validBytes);
      lastBytes = validBytes;
    }
    if (segments.length === 0) segments.push(1);
    const active = segments[segments.length - 1]!;
    const fh = await open(join(dir, name(active)), 'a');
    return { log: new SegmentLog(dir, options, fh, active, lastBytes, segments), replayed };
  }

  /** The segment new records go to. */
  get activeSegment(): number {
    return this.active;
  }

  /**
   * Queues a record for the next group commit and returns the segment it
   * lands in. `synced` resolves after its fsync (or rejects when the write
   * fails; the log is then broken and refuses further appends).
   */
  append(record: LogRecord): { segment: number; synced: Promise<void> } {
    if (this.closed) return { segment: this.active, synced: Promise.reject(new Error('durable log closed')) };
    if (this.broken) return { segment: this.active, synced: Promise.reject(this.broken) };
    const buf = encodeRecord(record);
    if (this.activeBytes > 0 && this.activeBytes + buf.length > this.options.segmentBytes) {
      this.active++;
      this.activeBytes = 0;
      this.segments.push(this.active);
    }
    this.activeBytes += buf.length;
    const segment = this.active;
    const synced = new Promise<void>((resolve, reject) => this.pending.push({ buf, segment, resolve, reject }));
    this.kick();
    return { segment, synced };
  }

  /** Deletes a segment that holds nothing live (never one still being written). */
  async remove(segment: number): Promise<void> {
    if (segment >= this.fileSegment || segment === this.active) return;
    const i = this.segments.indexOf(segment);
    if (i < 0) return;
    this.segments.splice(i, 1);
    await rm(join(this.dir, name(segment)), { force: true });
  }

  /** Writes what is queued, then closes the file. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    while (this.flushing) await this.flushing;
    await this.fh.close();
  }

  private kick(): void {
    if (this.flushing || this.pending.length === 0) return;
    this.flushing = this.flushLoop().finally(() => {
      this.flushing = undefined;
      this.kick();
    });
  }

  /** One write and one fdatasync per segment touched by the batch: the group commit. */
  private async flushLoop(): Promise<void> {
    while (this.pending.length > 0) {
      const batch = this.pending;
      this.pending = [];
      let from = 0;
      while (from < batch.length) {
        const segment = batch[from]!.segment;
        let to = from;
        while (to < batch.length && batch[to]!.segment === segment) to++;
        await this.writeGroup(batch.slice(from, to), segment);
        from = to;
      }
    }
  }

  private async writeGroup(group: Pending[], segment: number): Promise<void> {
    try {
      if (this.broken) throw this.broken;
      if (segment !== this.fileSegment) {
        await this.fh.close();
        this.fh = await open(join(this.dir, name(segment)), 'a');
        this.fileSegment = segment;
      }
      await this.fh.write(group.length === 1 ? group[0]!.buf : Buffer.concat(group.map((p) => p.buf)));
      await this.fh.datasync();
      for (const p of group) p.resolve();
    } catch (err) {
      this.broken ??= err as Error;
      for (const p of group) p.reject(err);
    }
  }
}

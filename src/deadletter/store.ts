/**
 * A durable, bounded dead-letter queue: requests that failed for good, kept
 * so an operator (or a replayer) can look at them and send them again. Node
 * only; no external server.
 *
 * Storage is one append-only JSON-lines file, `<dir>/dead-letters.jsonl`:
 *
 * ```
 * {"op":"header","version":1,"nextSeq":1}
 * {"op":"add","entry":{"id":"dl-000001","route":"payment.refund",...,"state":"pending"}}
 * {"op":"replay","id":"dl-000001","ok":false,"at":1718000000000,"error":{"code":"UNAVAILABLE","message":"..."}}
 * {"op":"replay","id":"dl-000001","ok":true,"at":1718000005000}
 * ```
 *
 * - Durable: every write is fsync'd before its promise resolves, so an
 *   acknowledged `add` survives a crash. Writes are serialized, one at a time
 *   in call order.
 * - Crash-tolerant: a crash can leave at most the record being written torn
 *   at the end of the file; `open` drops it (and an unparseable last line),
 *   truncates the file back to the last whole record and reports the count in
 *   `recovered.tornLines`. Any other unparseable line is real corruption and
 *   `open` refuses the file with an error naming the line.
 * - Bounded: at most `maxEntries` pending entries, and the file at most
 *   `maxBytes` when adding. When full, `add` is refused with OVERLOADED;
 *   existing entries are never dropped to make room (losing dead letters
 *   silently is what a DLQ exists to prevent).
 * - Compacted: replayed entries and replay records are dead weight. When they
 *   exceed half the file (or the file is over `maxBytes`), the file is
 *   rewritten with a header and the pending entries only: temp file, fsync,
 *   atomic rename, fsync of the directory. A crash at any point leaves either
 *   the old file or the new one. Replayed entries stay visible to `get` and
 *   `list` until then. The header carries the next id number, so ids keep
 *   increasing across restarts even when compaction removed every entry.
 *
 * - Single writer: `open` takes `<dir>/dead-letters.lock` (the owner's pid)
 *   and `close` gives it back, so a second process, or a second store in this
 *   one, is refused instead of interleaving writes. A lock left by a process
 *   that is gone is taken over.
 * - Indexed: pending entries are indexed by model, route and data, so
 *   finding a pending copy of a request (deduplication) costs one lookup,
 *   not a scan of the queue.
 */
import { mkdir, open, readFile, rename, rm, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { SluiceError } from '../errors.js';
import { lockDir, type Unlock } from './lock.js';
import type { Claim, DeadLetterBackend } from './backend.js';

export interface DeadLetter {
  /** `dl-` and a sequence number (6 digits at least), increasing and never reused, across restarts too. */
  id: string;
  route: string;
  /** The interaction model of the request: request-response or fire-and-forget. */
  model: 'response' | 'fnf';
  /** Base64 of the request payload data. */
  data: string;
  /** Base64 of the request's composite metadata. */
  metadata: string;
  /** The latest failure: the one that dead-lettered the request, then the error of the last failed replay. */
  error: { code: string; message: string };
  /** Delivery attempts made before it was dead-lettered. */
  attempts: number;
  /** Epoch ms of the first failure. */
  firstFailedAt: number;
  /** Epoch ms it was added to the store. */
  deadLetteredAt: number;
  /** Replay attempts so far. */
  replays: number;
  /** `replayed` once a replay succeeded; it is then no longer pending. */
  state: 'pending' | 'replayed';
}

export interface DeadLetterStoreOptions {
  /** Directory of the log file; created if missing. */
  dir: string;
  /** Pending entries at most; more are refused. Default 10000. */
  maxEntries: number;
  /** Log file size in bytes at most when adding; an entry that would take it past is refused. Default 64 MiB. */
  maxBytes: number;
}

export type NewDeadLetter = Omit<DeadLetter, 'id' | 'replays' | 'state' | 'deadLetteredAt'>;

export interface ListOptions {
  /** Default 'pending'. */
  state?: 'pending' | 'replayed' | 'all';
  route?: string;
  /** Most entries returned. Default: all that match. */
  limit?: number;
  /** Only entries after this id (the last one of the previous page). Default: from the oldest. */
  after?: string;
}

/** What `open` found in the log. */
export interface Recovery {
  /** Entries read back (pending and replayed). */
  entries: number;
  /** Pending entries among them. */
  pending: number;
  /** Torn or unparseable records dropped from the end of the file (0 after a clean shutdown, at most 2). */
  tornLines: number;
  /** Bytes truncated with them. */
  tornBytes: number;
}

export const defaultDeadLetterStoreOptions = { maxEntries: 10_000, maxBytes: 64 * 1024 * 1024 } as const;

const FILE = 'dead-letters.jsonl';
const LOCK = 'dead-letters.lock';
const VERSION = 1;
const ID = /^dl-(\d+)$/;
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

type LogRecord =
  | { op: 'header'; version: number; nextSeq: number }
  | { op: 'add'; entry: DeadLetter }
  | { op: 'replay'; id: string; ok: boolean; at: number; error?: { code: string; message: string } };

interface Slot {
  entry: DeadLetter;
  /** Bytes of the entry's snapshot line as compaction would write it (counted while pending). */
  live: number;
}

export class DeadLetterStore implements DeadLetterBackend {
  readonly kind = 'embedded';
  readonly options: DeadLetterStoreOptions;
  /**
   * `added`: entries stored; `refused`: adds refused because the store was
   * full; `replayed` / `replayFailures`: replay outcomes recorded;
   * `compactions`: file rewrites; `compactionFailures`: automatic ones that
   * failed (the store keeps the old file and goes on).
   */
  readonly counters = { added: 0, refused: 0, replayed: 0, replayFailures: 0, compactions: 0, compactionFailures: 0 };
  readonly recovered: Recovery;

  private readonly path: string;
  private fh: FileHandle;
  private readonly slots = new Map<string, Slot>();
  /** Ids being replayed now (claimed, not yet settled): in memory, as only this process writes the log. */
  private readonly claimed = new Set<string>();
  /** Pending entries' ids by `model route`, then data (the entry's own string, not a copy), oldest first. */
  private readonly index = new Map<string, Map<string, Set<string>>>();
  private nextSeq: number;
  private pending = 0;
  private fileBytes: number;
  /** Bytes a compaction would keep: the header and the pending entries' snapshots. */
  private liveBytes = 0;
  private queue: Promise<unknown> = Promise.resolve();
  private closed = false;
  /** Set when a failed write could not be rolled back: the file's end is unknown, so nothing more is written. */
  private broken: Error | undefined;

  private constructor(
    options: DeadLetterStoreOptions,
    fh: FileHandle,
    state: LoadedLog,
    private readonly unlock: Unlock,
  ) {
    this.options = options;
    this.path = join(options.dir, FILE);
    this.fh = fh;
    this.nextSeq = state.nextSeq;
    this.fileBytes = state.fileBytes;
    this.liveBytes = headerLine(state.nextSeq).length;
    for (const entry of state.entries) {
      const slot = { entry, live: 0 };
      this.slots.set(entry.id, slot);
      if (entry.state === 'pending') {
        this.indexAdd(entry);
        this.pending++;
        slot.live = byteLength(addLine(entry));
        this.liveBytes += slot.live;
      }
    }
    this.recovered = Object.freeze({ entries: state.entries.length, pending: this.pending, tornLines: state.tornLines, tornBytes: state.tornBytes });
  }

  /**
   * Opens (or creates) the store in `options.dir` and reads the log back.
   * Rejects with SluiceError INTERNAL when the file is corrupt other than at
   * its end, and with UNAVAILABLE when a live process (or another store in
   * this one) holds the directory. Compacts at once when the log is mostly
   * dead weight.
   */
  static async open(options: Pick<DeadLetterStoreOptions, 'dir'> & Partial<DeadLetterStoreOptions>): Promise<DeadLetterStore> {
    const o = validateOptions({ ...defaultDeadLetterStoreOptions, ...options });
    await mkdir(o.dir, { recursive: true });
    const unlock = await lockDir(o.dir, LOCK);
    let fh: FileHandle | undefined;
    try {
      const path = join(o.dir, FILE);
      // A temp file is what a compaction left when it crashed before its rename: the log is authoritative.
      await rm(`${path}.tmp`, { force: true });
      const state = await load(path);
      fh = await open(path, 'a');
      const store = new DeadLetterStore(o, fh, state, unlock);
      if (state.fileBytes === 0) {
        await store.append(headerLine(store.nextSeq));
        await syncDir(o.dir);
      }
      if (store.shouldCompact()) await store.rewrite();
      return store;
    } catch (err) {
      await fh?.close().catch(() => {});
      await unlock();
      throw err;
    }
  }

  /** Pending entries. */
  get size(): number {
    return this.pending;
  }

  /** Bytes of the log file. */
  get bytes(): number {
    return this.fileBytes;
  }

  /** Same as `recovered.tornLines`. */
  get tornLines(): number {
    return this.recovered.tornLines;
  }

  /**
   * Durably appends a dead letter (fsync before resolving) and returns it with
   * its id. When full (pending entries >= maxEntries, or the line would take
   * the file past maxBytes even after compacting) it is refused with
   * SluiceError OVERLOADED `dead-letter queue full (...)` naming the limit,
   * and counted in `counters.refused`. Rejects with INVALID_ARGUMENT when a
   * field is malformed.
   */
  add(input: NewDeadLetter): Promise<DeadLetter> {
    let fields: NewDeadLetter;
    try {
      fields = validateNewDeadLetter(input);
    } catch (err) {
      return Promise.reject(err);
    }
    return this.serial(async () => {
      const { maxEntries, maxBytes } = this.options;
      if (this.pending >= maxEntries) this.refuse(`${this.pending} pending entries, maxEntries=${maxEntries}`);
      const entry: DeadLetter = { id: formatId(this.nextSeq), ...fields, deadLetteredAt: Date.now(), replays: 0, state: 'pending' };
      const line = addLine(entry);
      const size = byteLength(line);
      if (this.fileBytes + size > maxBytes && this.fileBytes > this.liveBytes) await this.rewrite();
      if (this.fileBytes + size > maxBytes) this.refuse(`an entry of ${size} bytes would take the log to ${this.fileBytes + size} bytes, maxBytes=${maxBytes}`);
      await this.append(line);
      this.nextSeq++;
      this.slots.set(entry.id, { entry, live: size });
      this.indexAdd(entry);
      this.pending++;
      this.liveBytes += size;
      this.counters.added++;
      return copy(entry);
    });
  }

  get(id: string): DeadLetter | undefined {
    const slot = this.slots.get(id);
    return slot && copy(slot.entry);
  }

  /** The oldest pending entry with this model, route and data (base64), if any: one lookup, no scan. */
  findPending(model: DeadLetter['model'], route: string, data: string): DeadLetter | undefined {
    const ids = this.index.get(`${model} ${route}`)?.get(data);
    if (!ids) return undefined;
    for (const id of ids) return this.get(id);
    return undefined;
  }

  /** Entries oldest first; by default the pending ones. */
  list(options: ListOptions = {}): DeadLetter[] {
    const { state = 'pending', route, limit = Infinity, after } = options;
    if (!(limit >= 0)) throw new RangeError(`list: limit must be >= 0, got ${limit}`);
    const from = after === undefined ? 0 : seqOf(after);
    const out: DeadLetter[] = [];
    for (const { entry } of this.slots.values()) {
      if (out.length >= limit) break;
      if (seqOf(entry.id) <= from) continue;
      if (state !== 'all' && entry.state !== state) continue;
      if (route !== undefined && entry.route !== route) continue;
      out.push(copy(entry));
    }
    return out;
  }

  /**
   * Durably records a replay attempt of a pending entry: `succeeded` marks it
   * replayed (no longer pending); a failure counts the attempt and, with
   * `error`, makes that the entry's latest error. Rejects with
   * INVALID_ARGUMENT for an unknown id or an entry already replayed.
   */
  recordReplay(id: string, succeeded: boolean, error?: { code: string; message: string }): Promise<DeadLetter> {
    return this.serial(async () => {
      const slot = this.slots.get(id);
      if (!slot) throw new SluiceError('INVALID_ARGUMENT', `no dead letter '${id}'`);
      if (slot.entry.state === 'replayed') throw new SluiceError('INVALID_ARGUMENT', `dead letter '${id}' was already replayed`);
      const record: LogRecord = { op: 'replay', id, ok: succeeded, at: Date.now() };
      if (error) record.error = { code: String(error.code), message: String(error.message) };
      await this.append(`${JSON.stringify(record)}\n`);
      this.applyReplay(slot, record);
      if (succeeded) this.counters.replayed++;
      else this.counters.replayFailures++;
      if (this.shouldCompact()) {
        try {
          await this.rewrite();
        } catch {
          this.counters.compactionFailures++;
        }
      }
      return copy(slot.entry);
    });
  }

  /** Takes the right to replay a pending entry; refused while another replay of it is under way. */
  claim(id: string): Promise<Claim> {
    const slot = this.slots.get(id);
    if (!slot) return Promise.reject(new SluiceError('INVALID_ARGUMENT', `no dead letter '${id}'`));
    if (slot.entry.state === 'replayed') return Promise.reject(new SluiceError('INVALID_ARGUMENT', `dead letter '${id}' was already replayed`));
    if (this.claimed.has(id)) return Promise.resolve({ ok: false, reason: `dead letter '${id}' is being replayed` });
    this.claimed.add(id);
    return Promise.resolve({ ok: true, entry: copy(slot.entry) });
  }

  /** Records the outcome of a claimed replay (`recordReplay`) and gives the claim back. */
  async settle(id: string, succeeded: boolean, error?: { code: string; message: string }): Promise<DeadLetter> {
    try {
      return await this.recordReplay(id, succeeded, error);
    } finally {
      this.claimed.delete(id);
    }
  }

  /**
   * Rewrites the log with the pending entries only (temp file, fsync, atomic
   * rename, directory fsync), dropping replayed entries from the file and
   * from memory. Runs automatically when dead records exceed half the file.
   */
  compact(): Promise<void> {
    return this.serial(() => this.rewrite());
  }

  /** Waits for queued writes, then closes the file and gives back the lock. Later calls reject with UNAVAILABLE. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.queue;
    try {
      await this.fh.close();
    } finally {
      await this.unlock();
    }
  }

  private serial<T>(task: () => Promise<T>): Promise<T> {
    if (this.closed) return Promise.reject(new SluiceError('UNAVAILABLE', 'dead-letter store is closed'));
    const run = this.queue.then(() => {
      if (this.broken) throw new SluiceError('INTERNAL', `dead-letter store is unusable after a failed write: ${this.broken.message}`, { cause: this.broken });
      return task();
    });
    this.queue = run.catch(() => {});
    return run;
  }

  private refuse(why: string): never {
    this.counters.refused++;
    throw new SluiceError('OVERLOADED', `dead-letter queue full (${why})`, { details: { maxEntries: this.options.maxEntries, maxBytes: this.options.maxBytes } });
  }

  private applyReplay(slot: Slot, record: Extract<LogRecord, { op: 'replay' }>): void {
    applyReplay(slot.entry, record);
    this.liveBytes -= slot.live;
    if (slot.entry.state === 'replayed') {
      this.indexRemove(slot.entry);
      this.pending--;
      slot.live = 0;
    } else {
      slot.live = byteLength(addLine(slot.entry));
      this.liveBytes += slot.live;
    }
  }

  private indexAdd(entry: DeadLetter): void {
    const key = `${entry.model} ${entry.route}`;
    let byData = this.index.get(key);
    if (!byData) this.index.set(key, (byData = new Map()));
    let ids = byData.get(entry.data);
    if (!ids) byData.set(entry.data, (ids = new Set()));
    ids.add(entry.id);
  }

  private indexRemove(entry: DeadLetter): void {
    const key = `${entry.model} ${entry.route}`;
    const byData = this.index.get(key);
    const ids = byData?.get(entry.data);
    if (!byData || !ids) return;
    ids.delete(entry.id);
    if (ids.size === 0) byData.delete(entry.data);
    if (byData.size === 0) this.index.delete(key);
  }

  private shouldCompact(): boolean {
    const dead = this.fileBytes - this.liveBytes;
    return dead > 0 && (dead * 2 > this.fileBytes || this.fileBytes > this.options.maxBytes);
  }

  /** Appends whole lines and fsyncs; on failure rolls the file back to its last whole record. */
  private async append(text: string): Promise<void> {
    const buf = Buffer.from(text, 'utf8');
    try {
      let offset = 0;
      while (offset < buf.length) offset += (await this.fh.write(buf, offset, buf.length - offset, null)).bytesWritten;
      await this.fh.sync();
    } catch (err) {
      try {
        await this.fh.truncate(this.fileBytes);
        await this.fh.sync();
      } catch (rollback) {
        this.broken = rollback as Error;
      }
      throw new SluiceError('INTERNAL', `dead-letter store: writing ${this.path} failed: ${(err as Error).message}`, { cause: err });
    }
    this.fileBytes += buf.length;
  }

  private async rewrite(): Promise<void> {
    const tmp = `${this.path}.tmp`;
    const kept = [...this.slots.values()].filter((s) => s.entry.state === 'pending');
    const text = headerLine(this.nextSeq) + kept.map((s) => addLine(s.entry)).join('');
    const buf = Buffer.from(text, 'utf8');
    try {
      const out = await open(tmp, 'w');
      try {
        await out.writeFile(buf);
        await out.sync();
      } finally {
        await out.close();
      }
      await rename(tmp, this.path);
    } catch (err) {
      await rm(tmp, { force: true }).catch(() => {});
      throw new SluiceError('INTERNAL', `dead-letter store: compacting ${this.path} failed: ${(err as Error).message}`, { cause: err });
    }
    // The rename is done: from here the new file is the log, whatever happens.
    await syncDir(this.options.dir);
    const old = this.fh;
    try {
      this.fh = await open(this.path, 'a');
    } catch (err) {
      this.broken = err as Error;
      throw err;
    } finally {
      await old.close().catch(() => {});
    }
    for (const [id, slot] of this.slots) if (slot.entry.state !== 'pending') this.slots.delete(id);
    this.fileBytes = this.liveBytes = buf.length;
    this.counters.compactions++;
  }
}

interface LoadedLog {
  entries: DeadLetter[];
  nextSeq: number;
  fileBytes: number;
  tornLines: number;
  tornBytes: number;
}

/** Reads the log back, truncating a torn end. */
async function load(path: string): Promise<LoadedLog> {
  let buf: Buffer;
  try {
    buf = await readFile(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { entries: [], nextSeq: 1, fileBytes: 0, tornLines: 0, tornBytes: 0 };
    throw err;
  }
  // Whole records end with '\n'; what follows the last one was being written when the process died.
  let end = buf.lastIndexOf(0x0a) + 1;
  let tornLines = end < buf.length ? 1 : 0;
  const lines = buf.subarray(0, end).toString('utf8').split('\n');
  lines.pop(); // the empty string after the last '\n'
  const records: LogRecord[] = [];
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const record = parseRecord(line);
    if (record) {
      records.push(record);
      continue;
    }
    if (i === lines.length - 1) {
      // A last line that is whole but garbage (a torn write padded by the file system): also torn.
      end -= byteLength(line) + 1;
      tornLines++;
      break;
    }
    throw new SluiceError('INTERNAL', `dead-letter log ${path} is corrupt at line ${i + 1} (not a valid record); move the file aside to start empty`);
  }
  const tornBytes = buf.length - end;
  if (tornBytes > 0) {
    const fh = await open(path, 'r+');
    try {
      await fh.truncate(end);
      await fh.sync();
    } finally {
      await fh.close();
    }
  }

  const byId = new Map<string, DeadLetter>();
  let nextSeq = 1;
  for (const [i, record] of records.entries()) {
    if (record.op === 'header') {
      nextSeq = Math.max(nextSeq, record.nextSeq);
    } else if (record.op === 'add') {
      byId.set(record.entry.id, record.entry);
      nextSeq = Math.max(nextSeq, Number(ID.exec(record.entry.id)![1]) + 1);
    } else {
      const entry = byId.get(record.id);
      if (!entry) throw new SluiceError('INTERNAL', `dead-letter log ${path} is corrupt at line ${i + 1} (replay of unknown entry '${record.id}')`);
      applyReplay(entry, record);
    }
  }
  return { entries: [...byId.values()], nextSeq, fileBytes: end, tornLines, tornBytes };
}

function parseRecord(line: string): LogRecord | undefined {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    return undefined;
  }
  if (!isObject(v)) return undefined;
  switch (v.op) {
    case 'header':
      return v.version === VERSION && Number.isSafeInteger(v.nextSeq) ? (v as LogRecord) : undefined;
    case 'add':
      return isObject(v.entry) && typeof v.entry.id === 'string' && ID.test(v.entry.id) && (v.entry.state === 'pending' || v.entry.state === 'replayed') && isEntryFields(v.entry)
        ? (v as LogRecord)
        : undefined;
    case 'replay':
      return typeof v.id === 'string' && typeof v.ok === 'boolean' && (v.error === undefined || isError(v.error)) ? (v as LogRecord) : undefined;
    default:
      return undefined;
  }
}

function applyReplay(entry: DeadLetter, record: Extract<LogRecord, { op: 'replay' }>): void {
  entry.replays++;
  if (record.ok) entry.state = 'replayed';
  else if (record.error) entry.error = { code: record.error.code, message: record.error.message };
}

function validateOptions(o: DeadLetterStoreOptions): DeadLetterStoreOptions {
  if (typeof o.dir !== 'string' || o.dir.length === 0) throw new RangeError('dead-letter store: dir must be a non-empty path');
  if (!Number.isInteger(o.maxEntries) || o.maxEntries < 1) throw new RangeError(`dead-letter store: maxEntries must be an integer >= 1, got ${o.maxEntries}`);
  if (!Number.isInteger(o.maxBytes) || o.maxBytes < 1) throw new RangeError(`dead-letter store: maxBytes must be an integer >= 1, got ${o.maxBytes}`);
  return Object.freeze({ dir: o.dir, maxEntries: o.maxEntries, maxBytes: o.maxBytes });
}

/** Checks a new dead letter's fields and returns only the known ones; throws SluiceError INVALID_ARGUMENT naming a bad field. */
export function validateNewDeadLetter(e: NewDeadLetter): NewDeadLetter {
  const bad = (field: string, must: string) => new SluiceError('INVALID_ARGUMENT', `dead letter: '${field}' must be ${must}`);
  if (!isObject(e)) throw bad('entry', 'an object');
  if (typeof e.route !== 'string' || e.route.length === 0) throw bad('route', 'a non-empty string');
  if (e.model !== 'response' && e.model !== 'fnf') throw bad('model', "'response' or 'fnf'");
  if (typeof e.data !== 'string' || !BASE64.test(e.data)) throw bad('data', 'base64');
  if (typeof e.metadata !== 'string' || !BASE64.test(e.metadata)) throw bad('metadata', 'base64');
  if (!isError(e.error)) throw bad('error', 'an object { code: string, message: string }');
  if (!Number.isSafeInteger(e.attempts) || e.attempts < 0) throw bad('attempts', 'an integer >= 0');
  if (!Number.isFinite(e.firstFailedAt)) throw bad('firstFailedAt', 'epoch ms');
  // Only the known fields, in a fixed order: nothing else reaches the file.
  return { route: e.route, model: e.model, data: e.data, metadata: e.metadata, error: { code: e.error.code, message: e.error.message }, attempts: e.attempts, firstFailedAt: e.firstFailedAt };
}

function isEntryFields(v: Record<string, unknown>): boolean {
  try {
    validateNewDeadLetter(v as unknown as NewDeadLetter);
  } catch {
    return false;
  }
  return Number.isSafeInteger(v.replays) && Number.isFinite(v.deadLetteredAt);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isError(v: unknown): v is { code: string; message: string } {
  return isObject(v) && typeof v.code === 'string' && typeof v.message === 'string';
}

/** A dead letter's id from its sequence number: `dl-` and at least 6 digits. */
export function formatId(seq: number): string {
  return `dl-${String(seq).padStart(6, '0')}`;
}

/** The sequence number of an id made by `formatId`; 0 for anything else (no entry has it). */
export function seqOf(id: string): number {
  const m = ID.exec(id);
  return m ? Number(m[1]) : 0;
}

function headerLine(nextSeq: number): string {
  return `${JSON.stringify({ op: 'header', version: VERSION, nextSeq })}\n`;
}

function addLine(entry: DeadLetter): string {
  return `${JSON.stringify({ op: 'add', entry })}\n`;
}

function byteLength(text: string): number {
  return Buffer.byteLength(text, 'utf8');
}

function copy(entry: DeadLetter): DeadLetter {
  return { ...entry, error: { ...entry.error } };
}

/** Makes a rename or a new file's directory entry durable; not supported everywhere (Windows), so best effort. */
async function syncDir(dir: string): Promise<void> {
  let handle: FileHandle | undefined;
  try {
    handle = await open(dir, 'r');
    await handle.sync();
  } catch {
    // directories cannot be opened or fsync'd on some platforms
  } finally {
    await handle?.close().catch(() => {});
  }
}

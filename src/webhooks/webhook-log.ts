/**
 * The webhook dispatcher's durable state: subscriptions and every delivery
 * not yet delivered, in one append-only JSON-lines file,
 * `<dir>/webhooks.jsonl`, so deliveries survive a restart of the gateway
 * and go on where they stopped (attempt count and next attempt time
 * included). Node only; no external server.
 *
 * ```
 * {"op":"header","version":1,"nextSeq":1}
 * {"op":"sub","sub":{"id":"wh_…","topic":"orders.events","url":"https://…","secret":"whsec_…","owner":"shop","createdAt":…}}
 * {"op":"enq","d":{"id":"msg_000001","sub":"wh_…","key":"ord_1","body":"{…}","createdAt":…}}
 * {"op":"fail","id":"msg_000001","attempts":1,"nextAt":…,"error":"HTTP 503"}
 * {"op":"done","id":"msg_000001"}
 * {"op":"dead","id":"msg_000002","attempts":8,"error":"HTTP 500"}
 * {"op":"unsub","id":"wh_…"}
 * ```
 *
 * - Durable: each write is fsync'd before its promise resolves; writes are
 *   serialized in call order. A publish to many subscriptions is one write.
 * - Crash-tolerant: a torn last line (a crash mid-write) is dropped and the
 *   file truncated to the last whole record; any other bad line is
 *   corruption and `open` refuses the file naming the line.
 * - Bounded: `maxPending` deliveries not yet delivered or dead, and the file
 *   at most `maxBytes` when enqueuing; beyond, a publish is refused with
 *   OVERLOADED (nothing accepted is dropped). Dead deliveries are kept for
 *   operators up to `maxDead`, the oldest forgotten first.
 * - Compacted: finished deliveries and their records are dead weight; when
 *   they are over half the file, it is rewritten (temp file, fsync, rename,
 *   fsync of the directory) with the live state only.
 */
import { mkdir, open, readFile, rename, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { SluiceError } from '../errors.js';

export interface Subscription {
  /** `wh_` and 16 hex digits. */
  readonly id: string;
  readonly topic: string;
  readonly url: string;
  /** `whsec_` secret the deliveries are signed with. */
  readonly secret: string;
  /** The principal that subscribed (who may unsubscribe). */
  readonly owner: string;
  readonly createdAt: number;
}

export interface Delivery {
  /**
   * The `webhook-id` header, the same on every attempt: `msg_` and a
   * sequence number, or `msg_e` and a digest of the subscription and the
   * publisher's event id when the publish named one.
   */
  readonly id: string;
  /** Subscription id. */
  readonly sub: string;
  /** Ordering key: deliveries with the same key reach the endpoint one at a time, in publish order. */
  readonly key: string;
  /** The JSON body sent. */
  readonly body: string;
  readonly createdAt: number;
  attempts: number;
  /** Epoch ms before which no new attempt is made. */
  nextAt: number;
  lastError?: string;
  state: 'pending' | 'dead';
}

export interface WebhookLogOptions {
  dir: string;
  /** Deliveries pending at most, over every subscription. */
  maxPending: number;
  /** File size in bytes at most when enqueuing. */
  maxBytes: number;
  /** Dead deliveries kept for operators; the oldest beyond are forgotten. */
  maxDead: number;
}

type LogRecord =
  | { op: 'header'; version: 1; nextSeq: number }
  | { op: 'sub'; sub: Subscription }
  | { op: 'unsub'; id: string }
  | { op: 'enq'; d: Omit<Delivery, 'attempts' | 'nextAt' | 'state'> & Partial<Pick<Delivery, 'attempts' | 'nextAt' | 'state' | 'lastError'>> }
  | { op: 'fail'; id: string; attempts: number; nextAt: number; error: string }
  | { op: 'done'; id: string }
  | { op: 'dead'; id: string; attempts: number; error: string };

const FILE = 'webhooks.jsonl';

export class WebhookLog {
  readonly subscriptions = new Map<string, Subscription>();
  /** Pending deliveries in publish order. */
  readonly pending = new Map<string, Delivery>();
  /** Dead deliveries, oldest first. */
  readonly dead = new Map<string, Delivery>();
  /** Dead deliveries forgotten to stay within maxDead since the gateway started. */
  deadForgotten = 0;
  /** Torn records dropped at open. */
  readonly tornLines: number;
  private nextSeq: number;
  private bytes: number;
  private liveRecords = 0;
  private totalRecords = 0;
  private queue: Promise<unknown> = Promise.resolve();
  private closed = false;

  private constructor(
    private readonly options: WebhookLogOptions,
    private fh: FileHandle,
    loaded: { records: LogRecord[]; bytes: number; torn: number },
  ) {
    this.nextSeq = 1;
    this.bytes = loaded.bytes;
    this.tornLines = loaded.torn;
    for (const r of loaded.records) this.apply(r);
    this.totalRecords = loaded.records.length;
    this.liveRecords = this.countLive();
  }

  static async open(options: WebhookLogOptions): Promise<WebhookLog> {
    await mkdir(options.dir, { recursive: true });
    const path = join(options.dir, FILE);
    let text = '';
    try {
      text = await readFile(path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    const loaded = parse(text, path);
    const fh = await open(path, 'a+');
    if (loaded.torn > 0) await fh.truncate(loaded.bytes);
    const log = new WebhookLog(options, fh, loaded);
    if (loaded.records.length === 0) await log.write([{ op: 'header', version: 1, nextSeq: 1 }]);
    return log;
  }

  /** Records a subscription durably. */
  subscribe(sub: Subscription): Promise<void> {
    return this.write([{ op: 'sub', sub }]);
  }

  /** Removes a subscription and every delivery of it, durably. */
  unsubscribe(id: string): Promise<void> {
    return this.write([{ op: 'unsub', id }]);
  }

  /**
   * Enqueues one delivery per subscription durably; resolves with them once
   * on disk. `ids`, when given, are the deliveries' ids (one per
   * subscription, in order); else each gets the next sequence number.
   * Throws OVERLOADED when over `maxPending` or `maxBytes`.
   */
  enqueue(subs: readonly Subscription[], key: string, body: string, now = Date.now(), ids?: readonly string[]): Promise<Delivery[]> {
    if (this.pending.size + subs.length > this.options.maxPending) {
      return Promise.reject(new SluiceError('OVERLOADED', `webhooks: ${this.pending.size} deliveries pending, at most webhooks.maxPending (${this.options.maxPending}); retry later`));
    }
    const records: LogRecord[] = subs.map((s, i) => ({ op: 'enq', d: { id: ids?.[i] ?? `msg_${String(this.nextSeq++).padStart(6, '0')}`, sub: s.id, key, body, createdAt: now } }));
    const size = records.reduce((n, r) => n + JSON.stringify(r).length + 1, 0);
    if (this.bytes + size > this.options.maxBytes) {
      return Promise.reject(new SluiceError('OVERLOADED', `webhooks: the delivery log is at webhooks.maxBytes (${this.options.maxBytes}); retry later`));
    }
    return this.write(records).then(() => records.map((r) => this.pending.get((r as Extract<LogRecord, { op: 'enq' }>).d.id)!));
  }

  /**
   * Puts a delivery that died back in line, with its id (receivers
   * deduplicate on it) and a fresh attempt count; resolves once on disk.
   * Throws OVERLOADED when over `maxPending`. A delivery already pending is
   * left as it is.
   */
  requeue(d: Pick<Delivery, 'id' | 'sub' | 'key' | 'body' | 'createdAt'>): Promise<void> {
    if (this.pending.has(d.id)) return Promise.resolve();
    if (this.pending.size + 1 > this.options.maxPending) {
      return Promise.reject(new SluiceError('OVERLOADED', `webhooks: ${this.pending.size} deliveries pending, at most webhooks.maxPending (${this.options.maxPending}); retry later`));
    }
    return this.write([{ op: 'enq', d: { id: d.id, sub: d.sub, key: d.key, body: d.body, createdAt: d.createdAt } }]);
  }

  /** An attempt failed; the next is due at `nextAt`. */
  failed(id: string, attempts: number, nextAt: number, error: string): Promise<void> {
    return this.write([{ op: 'fail', id, attempts, nextAt, error }]);
  }

  delivered(id: string): Promise<void> {
    return this.write([{ op: 'done', id }]);
  }

  /** The delivery gave up after `attempts`: kept as dead for operators. */
  died(id: string, attempts: number, error: string): Promise<void> {
    return this.write([{ op: 'dead', id, attempts, error }]);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.queue.catch(() => undefined);
    await this.fh.close();
  }

  // ------------------------------------------------------------------ internals

  private write(records: LogRecord[]): Promise<void> {
    const task = this.queue.then(async () => {
      if (this.closed) throw new SluiceError('UNAVAILABLE', 'webhooks: the delivery log is closed');
      const text = records.map((r) => JSON.stringify(r) + '\n').join('');
      await this.fh.appendFile(text, 'utf8');
      await this.fh.sync();
      this.bytes += Buffer.byteLength(text);
      for (const r of records) this.apply(r);
      this.totalRecords += records.length;
      this.liveRecords = this.countLive();
      if (this.totalRecords > 1024 && this.liveRecords * 2 < this.totalRecords) await this.compact();
    });
    this.queue = task.catch(() => undefined);
    return task;
  }

  private apply(r: LogRecord): void {
    switch (r.op) {
      case 'header':
        this.nextSeq = Math.max(this.nextSeq, r.nextSeq);
        return;
      case 'sub':
        this.subscriptions.set(r.sub.id, r.sub);
        return;
      case 'unsub':
        this.subscriptions.delete(r.id);
        for (const [id, d] of this.pending) if (d.sub === r.id) this.pending.delete(id);
        for (const [id, d] of this.dead) if (d.sub === r.id) this.dead.delete(id);
        return;
      case 'enq': {
        const d: Delivery = { attempts: 0, nextAt: 0, state: 'pending', ...r.d };
        const seq = Number.parseInt(d.id.slice(4), 10);
        if (Number.isFinite(seq)) this.nextSeq = Math.max(this.nextSeq, seq + 1);
        if (d.state === 'dead') this.keepDead(d);
        else {
          // A requeued dead delivery is pending again, no longer dead.
          this.dead.delete(d.id);
          this.pending.set(d.id, d);
        }
        return;
      }
      case 'fail': {
        const d = this.pending.get(r.id);
        if (!d) return;
        d.attempts = r.attempts;
        d.nextAt = r.nextAt;
        d.lastError = r.error;
        return;
      }
      case 'done':
        this.pending.delete(r.id);
        return;
      case 'dead': {
        const d = this.pending.get(r.id);
        if (!d) return;
        this.pending.delete(r.id);
        d.attempts = r.attempts;
        d.lastError = r.error;
        d.state = 'dead';
        this.keepDead(d);
        return;
      }
    }
  }

  private keepDead(d: Delivery): void {
    this.dead.set(d.id, d);
    while (this.dead.size > this.options.maxDead) {
      this.dead.delete(this.dead.keys().next().value!);
      this.deadForgotten++;
    }
  }

  private countLive(): number {
    return 1 + this.subscriptions.size + this.pending.size + this.dead.size;
  }

  /** Rewrites the file with the live state only; a crash leaves the old file or the new one. */
  private async compact(): Promise<void> {
    const records: LogRecord[] = [
      { op: 'header', version: 1, nextSeq: this.nextSeq },
      ...[...this.subscriptions.values()].map((sub): LogRecord => ({ op: 'sub', sub })),
      ...[...this.dead.values(), ...this.pending.values()].map((d): LogRecord => ({ op: 'enq', d: { ...d } })),
    ];
    const text = records.map((r) => JSON.stringify(r) + '\n').join('');
    const path = join(this.options.dir, FILE);
    const tmp = `${path}.tmp`;
    const out = await open(tmp, 'w');
    try {
      await out.writeFile(text, 'utf8');
      await out.sync();
    } finally {
      await out.close();
    }
    await rename(tmp, path);
    const dir = await open(this.options.dir, 'r');
    try {
      await dir.sync();
    } finally {
      await dir.close();
    }
    await this.fh.close();
    this.fh = await open(path, 'a+');
    this.bytes = Buffer.byteLength(text);
    this.totalRecords = records.length;
  }
}

function parse(text: string, path: string): { records: LogRecord[]; bytes: number; torn: number } {
  const records: LogRecord[] = [];
  let bytes = 0;
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const last = i === lines.length - 1;
    if (line === '') {
      if (!last) throw new Error(`${path}: line ${i + 1} is empty: the webhook log is corrupt`);
      continue;
    }
    let record: LogRecord;
    try {
      record = JSON.parse(line) as LogRecord;
      if (typeof record !== 'object' || record === null || typeof record.op !== 'string') throw new Error('not a record');
    } catch {
      // Only the last line can be torn by a crash; it had no newline yet, or its newline was the last byte written.
      if (last || (i === lines.length - 2 && lines[lines.length - 1] === '')) return { records, bytes, torn: 1 };
      throw new Error(`${path}: line ${i + 1} is not a webhook log record: the log is corrupt`);
    }
    if (last) return { records, bytes, torn: 1 }; // a whole record without its newline: the write did not finish
    records.push(record);
    bytes += Buffer.byteLength(line) + 1;
  }
  return { records, bytes, torn: 0 };
}

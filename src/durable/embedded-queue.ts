/**
 * The embedded backend: each durable route is a segment log in the gateway's
 * data directory (`<durable.dir>/<route, URI-encoded>/`), with its live state
 * rebuilt in memory on open. Nothing to install; survives kill -9 because a
 * command is acknowledged only after its record is fsync'd.
 *
 * State per command: ready (waiting for demand), in flight (delivered, not
 * settled) or delayed (nacked, waiting out its backoff). Settling appends a
 * DONE record without waiting for its fsync: a DONE lost in a crash means a
 * redelivery, which at-least-once allows.
 *
 * Compaction drops whole segments from the oldest end once none of their
 * commands is live and their idempotency keys are past the dedupe window
 * (deleting only from the oldest end keeps every DONE behind its PUT). A
 * live command pinning the oldest segment is copied forward to the active
 * one first, so one slow command cannot hold the whole log.
 *
 * Delivery counts are persisted: a DELIVER record is fsync'd before each
 * batch of deliveries goes out (one group commit per pull), so a restart,
 * even after kill -9, resumes every command's count and a poison command
 * cannot be delivered more than `maxDeliveries` times by restarting.
 */
import { mkdir, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { SluiceError } from '../errors.js';
import type { Payload } from '../protocol/frames.js';
import { lockDir } from '../deadletter/lock.js';
import { RecordType } from './log-record.js';
import { MAX_IDEMPOTENCY_KEY_BYTES as MAX_KEY_BYTES } from '../protocol/idempotency.js';
import { SegmentLog } from './segment-log.js';
import type { Appended, Delivery, DurableBackend, DurableCommand, DurableQueue, QueueLimits, QueueStats } from './queue.js';

export interface EmbeddedBackendOptions {
  /** Directory holding one subdirectory per durable route. */
  dir: string;
  /** Segment file size at which a new one starts, in bytes. Default 16 MiB. */
  segmentBytes?: number;
}

interface Entry {
  readonly seq: number;
  readonly key: string | undefined;
  readonly payload: Payload;
  readonly enqueuedAt: number;
  readonly bytes: number;
  segment: number;
  deliveries: number;
  state: 'ready' | 'inflight' | 'delayed';
  dueAt: number;
}

/** How often dedupe keys expire and segments are compacted, in ms. */
const SWEEP_MS = 1_000;
/** Segments behind the active one before live commands in the oldest are copied forward. */
const RELOCATE_AFTER_SEGMENTS = 3;

export class EmbeddedQueue implements DurableQueue {
  private readonly live = new Map<number, Entry>();
  private ready: Entry[] = [];
  private readyHead = 0;
  /** Nacked commands by due time, earliest first. */
  private readonly delayed: Entry[] = [];
  private delayTimer: ReturnType<typeof setTimeout> | undefined;
  private readonly segLive = new Map<number, number>();
  private readonly segLastWrite = new Map<number, number>();
  /** Idempotency keys within the window, oldest first (Map order), with the id they placed. */
  private readonly keys = new Map<string, { id: string; at: number; synced: Promise<void> }>();
  private liveBytes = 0;
  private nextSeq = 1;
  /** Pulls waiting for a ready command (a dispatcher may have a few under way). */
  private readonly waiting = new Set<() => void>();
  private readonly sweep: ReturnType<typeof setInterval>;
  private compacting = false;
  private closed = false;

  private constructor(
    readonly route: string,
    private readonly log: SegmentLog,
    private readonly limits: QueueLimits,
  ) {
    this.sweep = setInterval(() => this.housekeep(), SWEEP_MS);
    this.sweep.unref();
  }

  static async open(route: string, dir: string, limits: QueueLimits, segmentBytes: number): Promise<EmbeddedQueue> {
    const { log, replayed } = await SegmentLog.open(dir, { segmentBytes });
    const q = new EmbeddedQueue(route, log, limits);
    const now = Date.now();
    for (const { record, segment } of replayed) {
      q.nextSeq = Math.max(q.nextSeq, record.seq + 1);
      q.segLastWrite.set(segment, now);
      if (record.type === RecordType.DONE) {
        const e = q.live.get(record.seq);
        if (e) q.drop(e);
        continue;
      }
      if (record.type === RecordType.DELIVER) {
        const e = q.live.get(record.seq);
        if (e) e.deliveries = Math.max(e.deliveries, record.deliveries);
        continue;
      }
      const old = q.live.get(record.seq);
      if (old) {
        // Copied forward by compaction: the newer copy is where it lives now.
        q.moveSegment(old, segment);
        continue;
      }
      const e: Entry = { seq: record.seq, key: record.key, payload: record.payload, enqueuedAt: record.enqueuedAt, bytes: sizeOf(record.payload), segment, deliveries: 0, state: 'ready', dueAt: 0 };
      q.live.set(e.seq, e);
      q.liveBytes += e.bytes;
      q.segLive.set(segment, (q.segLive.get(segment) ?? 0) + 1);
      if (e.key !== undefined && now - e.enqueuedAt < limits.dedupeWindowMs) q.keys.set(e.key, { id: idOf(e.seq), at: e.enqueuedAt, synced: Promise.resolve() });
    }
    // Keys of settled commands are gone with their DONE; within the window their PUTs still name them.
    q.ready = [...q.live.values()].sort((a, b) => a.seq - b.seq);
    return q;
  }

  async append(command: DurableCommand): Promise<Appended> {
    if (this.closed) throw new SluiceError('UNAVAILABLE', `durable route '${this.route}' is closing`);
    const { key, payload } = command;
    if (key !== undefined) {
      if (Buffer.byteLength(key) > MAX_KEY_BYTES) throw new SluiceError('INVALID_ARGUMENT', `idempotency key longer than ${MAX_KEY_BYTES} bytes`);
      const seen = this.keys.get(key);
      if (seen && Date.now() - seen.at < this.limits.dedupeWindowMs) {
        await seen.synced;
        return { id: seen.id, duplicate: true };
      }
    }
    const bytes = sizeOf(payload);
    if (this.live.size >= this.limits.maxMessages || this.liveBytes + bytes > this.limits.maxBytes) {
      throw full(this.route, this.live.size, this.liveBytes, this.limits);
    }
    const seq = this.nextSeq++;
    const enqueuedAt = Date.now();
    const e: Entry = { seq, key, payload, enqueuedAt, bytes, segment: 0, deliveries: 0, state: 'ready', dueAt: 0 };
    const { segment, synced } = this.log.append({ type: RecordType.PUT, seq, enqueuedAt, key, payload });
    e.segment = segment;
    this.segLastWrite.set(segment, enqueuedAt);
    this.live.set(seq, e);
    this.liveBytes += bytes;
    this.segLive.set(segment, (this.segLive.get(segment) ?? 0) + 1);
    if (key !== undefined) {
      this.keys.delete(key);
      this.keys.set(key, { id: idOf(seq), at: enqueuedAt, synced });
    }
    try {
      await synced;
    } catch (err) {
      this.drop(e);
      if (key !== undefined) this.keys.delete(key);
      throw new SluiceError('INTERNAL', `durable route '${this.route}': the command could not be persisted (${(err as Error).message})`, { cause: err });
    }
    // Only a persisted command is delivered: a service never acts on one the client was told failed.
    if (this.live.get(seq) === e) this.makeReady(e);
    return { id: idOf(seq), duplicate: false };
  }

  async pull(max: number, deliver: (d: Delivery) => void, signal: AbortSignal): Promise<void> {
    while (this.readyCount() === 0 && !signal.aborted && !this.closed) {
      await new Promise<void>((resolve) => {
        const done = () => {
          signal.removeEventListener('abort', done);
          this.waiting.delete(done);
          resolve();
        };
        this.waiting.add(done);
        signal.addEventListener('abort', done, { once: true });
      });
    }
    const taken: Entry[] = [];
    while (taken.length < max && this.readyHead < this.ready.length && !signal.aborted) {
      const e = this.ready[this.readyHead++]!;
      if (this.live.get(e.seq) !== e || e.state !== 'ready') continue;
      e.state = 'inflight';
      e.deliveries++;
      taken.push(e);
    }
    if (this.readyHead > 1024 && this.readyHead * 2 > this.ready.length) {
      this.ready = this.ready.slice(this.readyHead);
      this.readyHead = 0;
    }
    if (taken.length === 0) return;
    // The counts reach the disk before the commands leave: a crash during their delivery cannot reset them.
    let synced: Promise<void> = Promise.resolve();
    for (const e of taken) synced = this.log.append({ type: RecordType.DELIVER, seq: e.seq, deliveries: e.deliveries }).synced;
    try {
      await synced;
    } catch (err) {
      for (const e of taken) {
        e.deliveries--;
        if (this.live.get(e.seq) === e && e.state === 'inflight') this.makeReady(e);
      }
      throw new SluiceError('INTERNAL', `durable route '${this.route}': delivery counts could not be persisted (${(err as Error).message})`, { cause: err });
    }
    for (const e of taken) if (this.live.get(e.seq) === e && e.state === 'inflight') deliver(this.delivery(e));
  }

  stats(): QueueStats {
    let oldest = Infinity;
    // Map order is append order; copied-forward entries keep their first time, so scan the few oldest.
    for (const e of this.live.values()) {
      oldest = Math.min(oldest, e.enqueuedAt);
      break;
    }
    return { depth: this.live.size, oldestAgeMs: oldest === Infinity ? 0 : Math.max(0, Date.now() - oldest) };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.sweep);
    clearTimeout(this.delayTimer);
    this.wakeAll();
    await this.log.close();
  }

  private readyCount(): number {
    return this.ready.length - this.readyHead;
  }

  private makeReady(e: Entry): void {
    e.state = 'ready';
    this.ready.push(e);
    this.wakeAll();
  }

  private wakeAll(): void {
    for (const w of [...this.waiting]) w();
  }

  private delivery(e: Entry): Delivery {
    let settled = false;
    const settle = (): boolean => {
      if (settled || this.live.get(e.seq) !== e || e.state !== 'inflight') return false;
      settled = true;
      return true;
    };
    const done = () => {
      if (!settle()) return;
      this.drop(e);
      if (!this.closed) this.log.append({ type: RecordType.DONE, seq: e.seq }).synced.catch(() => undefined);
    };
    return {
      id: idOf(e.seq),
      payload: e.payload,
      key: e.key,
      deliveries: e.deliveries,
      enqueuedAt: e.enqueuedAt,
      ack: done,
      term: done,
      nack: (delayMs: number) => {
        if (!settle()) return;
        if (delayMs <= 0) return this.makeReady(e);
        e.state = 'delayed';
        e.dueAt = Date.now() + delayMs;
        let i = this.delayed.length;
        while (i > 0 && this.delayed[i - 1]!.dueAt > e.dueAt) i--;
        this.delayed.splice(i, 0, e);
        this.armDelay();
      },
    };
  }

  private armDelay(): void {
    clearTimeout(this.delayTimer);
    const first = this.delayed[0];
    if (!first || this.closed) return;
    this.delayTimer = setTimeout(() => {
      const now = Date.now();
      while (this.delayed.length > 0 && this.delayed[0]!.dueAt <= now) {
        const e = this.delayed.shift()!;
        if (this.live.get(e.seq) === e && e.state === 'delayed') this.makeReady(e);
      }
      this.armDelay();
    }, Math.max(0, first.dueAt - Date.now()));
  }

  private drop(e: Entry): void {
    if (this.live.get(e.seq) !== e) return;
    this.live.delete(e.seq);
    this.liveBytes -= e.bytes;
    this.segLive.set(e.segment, (this.segLive.get(e.segment) ?? 1) - 1);
  }

  private moveSegment(e: Entry, segment: number): void {
    this.segLive.set(e.segment, (this.segLive.get(e.segment) ?? 1) - 1);
    e.segment = segment;
    this.segLive.set(segment, (this.segLive.get(segment) ?? 0) + 1);
  }

  /** Expires dedupe keys, then drops (or frees by copying forward) the oldest segments. */
  private housekeep(): void {
    const now = Date.now();
    for (const [key, v] of this.keys) {
      if (now - v.at < this.limits.dedupeWindowMs) break;
      this.keys.delete(key);
    }
    if (this.compacting || this.closed) return;
    this.compacting = true;
    void this.compact(now).finally(() => (this.compacting = false));
  }

  private async compact(now: number): Promise<void> {
    for (;;) {
      const oldest = this.log.segments[0];
      if (oldest === undefined || oldest === this.log.activeSegment) return;
      if (now - (this.segLastWrite.get(oldest) ?? 0) < this.limits.dedupeWindowMs) return;
      if ((this.segLive.get(oldest) ?? 0) > 0) {
        if (this.log.segments.length < RELOCATE_AFTER_SEGMENTS) return;
        const pinned = [...this.live.values()].filter((e) => e.segment === oldest);
        const copies = pinned.map((e) => {
          const put = this.log.append({ type: RecordType.PUT, seq: e.seq, enqueuedAt: e.enqueuedAt, key: e.key, payload: e.payload });
          // The count travels with the copy: the segment being freed may hold the only DELIVER record.
          const synced = e.deliveries > 0 ? this.log.append({ type: RecordType.DELIVER, seq: e.seq, deliveries: e.deliveries }).synced : put.synced;
          return { e, segment: put.segment, synced };
        });
        try {
          await Promise.all(copies.map((c) => c.synced));
        } catch {
          return;
        }
        for (const c of copies) if (this.live.get(c.e.seq) === c.e) this.moveSegment(c.e, c.segment);
        if ((this.segLive.get(oldest) ?? 0) > 0) return;
      }
      await this.log.remove(oldest);
      this.segLive.delete(oldest);
      this.segLastWrite.delete(oldest);
    }
  }
}

/**
 * The embedded backend: one segment log per route under `dir`. One gateway
 * per directory (two would interleave records): the directory is locked
 * (`LOCK`, holding the pid; a lock whose process is gone, as after kill -9,
 * is taken over), and a second gateway is refused UNAVAILABLE at start-up.
 */
export async function openEmbeddedBackend(options: EmbeddedBackendOptions): Promise<DurableBackend> {
  await mkdir(options.dir, { recursive: true });
  const release = await lockDir(options.dir, 'LOCK');
  const queues = new Set<EmbeddedQueue>();
  const segmentBytes = options.segmentBytes ?? 16 * 1024 * 1024;
  return {
    name: 'embedded',
    async open(route: string, limits: QueueLimits) {
      const q = await EmbeddedQueue.open(route, join(options.dir, encodeURIComponent(route)), limits, segmentBytes);
      queues.add(q);
      return q;
    },
    async existingRoutes() {
      const out: string[] = [];
      for (const name of await readdir(options.dir)) {
        if (name === 'LOCK') continue;
        const s = await stat(join(options.dir, name)).catch(() => undefined);
        if (s?.isDirectory()) out.push(decodeURIComponent(name));
      }
      return out;
    },
    async close() {
      await Promise.all([...queues].map((q) => q.close()));
      await release();
    },
  };
}

function sizeOf(p: Payload): number {
  return (p.data?.length ?? 0) + (p.metadata?.length ?? 0);
}

function idOf(seq: number): string {
  return String(seq);
}

/** The refusal at a queue's bound, with a retry hint. */
export function full(route: string, messages: number, bytes: number, limits: QueueLimits): SluiceError {
  const retryAfterMs = 1_000;
  return new SluiceError(
    'OVERLOADED',
    `durable route '${route}' holds ${messages} commands (${bytes} bytes), its bound is ${limits.maxMessages} commands or ${limits.maxBytes} bytes (durable.maxMessages, durable.maxBytes); retry after ${retryAfterMs} ms`,
    { details: { retryAfterMs } },
  );
}

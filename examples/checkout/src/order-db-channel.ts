/**
 * What the order store's two hosts share: the store in its worker
 * (order-db-client.ts) and on the service thread (order-db-inline.ts) take
 * operations, settle them with their answers and record how long each held
 * the store, the same way; only how a request reaches the run queue
 * (order-db-lanes.ts) differs. Keeping that one dispatch here keeps the two
 * from drifting apart, which matters because the sync-chain benchmark
 * compares them.
 */
import { SluiceError } from 'sluice';
import type { LaneReport, RanOp } from './order-db-lanes.js';
import type { OrderDbOp, OrderDbOps } from './order-db.js';

/** An order to accept that waited for the store, and what ran before its transaction. */
export interface PlaceWait {
  /** From the run queue receiving the place to its transaction starting, ms. */
  readonly waitedMs: number;
  /** The operation (or slice of one) the store ran just before; absent when none had run. */
  readonly behind?: RanOp;
}

/** How long store operations held the store: what an order to accept may wait behind. */
export interface StoreBusyStats {
  /** Operations answered since start (a split batch counts once). */
  readonly ops: number;
  /** The longest single run of the store, in ms (a slice of a split batch counts alone). */
  readonly maxMs: number;
  /** The longest of the last 1024, in ms. */
  readonly recentMaxMs: number;
  /** The last one, in ms (undefined before any). */
  readonly lastMs: number | undefined;
  /** Orders accepted, and the transactions they were committed in (several places waiting commit together). */
  readonly places: number;
  readonly placeCommits: number;
  /** Of the last 1024 places: the 99th percentile and the longest of their waits for the store, ms. */
  readonly placeWaitP99Ms: number;
  readonly placeWaitMaxMs: number;
  /** The longest place waits since start (at most 4), each with what ran just before it. */
  readonly slowestPlaceWaits: readonly PlaceWait[];
  /** Per kind of operation: how many ran, and the longest run in ms with its rows (transitions in a batch). */
  readonly byOp: Readonly<Record<string, { n: number; maxMs: number; rowsAtMax: number }>>;
  /** Batches of transitions split into several transactions to bound each one's store time. */
  readonly splitBatches: number;
}

/**
 * Where the order store's operations go: its worker (OrderDbClient) or the
 * service thread itself (InlineOrderDb). Either way operations run one at a
 * time, accepting orders first (order-db-lanes.ts).
 */
export interface OrderDbChannel {
  /** Runs one operation; resolves with its answer. */
  call<K extends OrderDbOp>(op: K, ...args: Parameters<OrderDbOps[K]>): ReturnType<OrderDbOps[K]>;
  readonly busy: StoreBusyStats;
  /** Starts the busy figures afresh (after warming up). */
  resetBusy(): void;
  /** Closes the store (after the operations queued before) and releases what runs it. */
  close(): Promise<void>;
}

const RECENT = 1024;
const SLOWEST = 4;

/** The busy figures of one store: the longest operations, overall and recently, and what places waited behind. */
export class BusyRecorder {
  private ops = 0;
  private runs = 0;
  private maxMs = 0;
  private readonly recent = new Float64Array(RECENT);
  private places = 0;
  private lastCommit = 0;
  private commits = 0;
  private readonly waits = new Float64Array(RECENT);
  private waitCount = 0;
  private slowest: PlaceWait[] = [];
  private byOp = new Map<string, { n: number; maxMs: number; rowsAtMax: number }>();
  private splits = 0;

  /** One answer, with the run queue's report of it. */
  record(op: string, report: LaneReport): void {
    this.ops++;
    if (report.splits) this.splits++;
    for (const run of report.runs) {
      this.recent[this.runs++ % RECENT] = run.ms;
      if (run.ms > this.maxMs) this.maxMs = run.ms;
      const o = this.byOp.get(op) ?? { n: 0, maxMs: 0, rowsAtMax: 0 };
      o.n++;
      if (run.ms > o.maxMs) {
        o.maxMs = run.ms;
        o.rowsAtMax = run.rows;
      }
      this.byOp.set(op, o);
    }
    if (report.placeCommit === undefined) return;
    this.places++;
    if (report.placeCommit !== this.lastCommit) this.commits++;
    this.lastCommit = report.placeCommit;
    this.waits[this.waitCount++ % RECENT] = report.waitedMs;
    const wait: PlaceWait = { waitedMs: round(report.waitedMs), ...(report.behind ? { behind: { ...report.behind, ms: round(report.behind.ms) } } : {}) };
    if (this.slowest.length < SLOWEST || report.waitedMs > this.slowest.at(-1)!.waitedMs) {
      this.slowest = [...this.slowest, wait].sort((a, b) => b.waitedMs - a.waitedMs).slice(0, SLOWEST);
    }
  }

  get stats(): StoreBusyStats {
    let recentMaxMs = 0;
    const n = Math.min(this.runs, RECENT);
    for (let i = 0; i < n; i++) recentMaxMs = Math.max(recentMaxMs, this.recent[i]!);
    const waits = Array.from(this.waits.subarray(0, Math.min(this.waitCount, RECENT))).sort((a, b) => a - b);
    return {
      ops: this.ops,
      maxMs: this.maxMs,
      recentMaxMs,
      lastMs: this.runs > 0 ? this.recent[(this.runs - 1) % RECENT] : undefined,
      places: this.places,
      placeCommits: this.commits,
      placeWaitP99Ms: round(waits[Math.min(waits.length - 1, Math.floor(waits.length * 0.99))] ?? 0),
      placeWaitMaxMs: round(waits.at(-1) ?? 0),
      slowestPlaceWaits: this.slowest,
      byOp: Object.fromEntries([...this.byOp].map(([k, v]) => [k, { ...v, maxMs: round(v.maxMs) }])),
      splitBatches: this.splits,
    };
  }

  reset(): void {
    this.ops = 0;
    this.runs = 0;
    this.maxMs = 0;
    this.recent.fill(0);
    this.places = 0;
    this.commits = 0;
    this.waitCount = 0;
    this.slowest = [];
    this.byOp.clear();
    this.splits = 0;
  }
}

/**
 * The dispatch both hosts share: each operation is handed to `submit`
 * (posting it to the worker, or to the run queue on this thread) with a
 * callback that records its report and settles its promise; after `close`,
 * or once `stop` is called, every operation fails with that error.
 */
export abstract class RecordingChannel implements OrderDbChannel {
  private readonly recorder = new BusyRecorder();
  protected stopped: SluiceError | undefined;

  /** Hands one request to where the store runs; `settle` is called once with its outcome and report. */
  protected abstract submit(op: OrderDbOp | 'close', args: readonly unknown[], settle: (outcome: { value: unknown } | { error: unknown }, report: LaneReport) => void): void;

  /** Releases what runs the store, after it closed (the worker; nothing on this thread). */
  protected abstract release(): Promise<void>;

  get busy(): StoreBusyStats {
    return this.recorder.stats;
  }

  resetBusy(): void {
    this.recorder.reset();
  }

  call<K extends OrderDbOp>(op: K, ...args: Parameters<OrderDbOps[K]>): ReturnType<OrderDbOps[K]> {
    return this.send(op, args) as ReturnType<OrderDbOps[K]>;
  }

  async close(): Promise<void> {
    if (this.stopped) return;
    try {
      await this.send('close', []);
    } finally {
      this.stop('the order store is closed');
      await this.release();
    }
  }

  /** Fails every later operation with UNAVAILABLE and `why` (the first reason given stays). */
  protected stop(why: string): SluiceError {
    return (this.stopped ??= new SluiceError('UNAVAILABLE', why));
  }

  private send(op: OrderDbOp | 'close', args: readonly unknown[]): Promise<unknown> {
    if (this.stopped) return Promise.reject(this.stopped);
    return new Promise((resolve, reject) => {
      this.submit(op, args, (outcome, report) => {
        this.recorder.record(op, report);
        if ('value' in outcome) resolve(outcome.value);
        else reject(outcome.error);
      });
    });
  }
}

function round(ms: number): number {
  return Math.round(ms * 10) / 10;
}

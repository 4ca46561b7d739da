/**
 * The order store's run queue, where PGlite runs (its worker, or the service
 * thread with `storeThread: 'service'`): operations one at a time, accepting
 * orders first, and every order to accept that is waiting committed in one
 * transaction.
 *
 * Why here and not only at the service thread's gate: measured per hop, the
 * accept tail was orders to accept waiting for each other, one worker round
 * trip each (post, wake the worker, run, post back, wake the service thread),
 * not for the store's work (about 2 ms a place). Under CPU contention a round
 * trip took 10-60 ms while the statement took 2, so at 50-100 orders/s places
 * queued behind places and the queue grew faster than it drained. Here the
 * service thread posts a place as soon as it has it; whatever places are
 * waiting when the store frees up go together, one round trip and one commit
 * for all of them, so the cost per place falls as the queue grows instead of
 * the queue growing with the cost.
 *
 * Background work is bounded in store time here too, not only in count: a
 * batch of saga transitions runs in slices of about SLICE_BUDGET_MS at the
 * measured cost of a transition, and between slices the places waiting go
 * first. Measured at 100 orders/s, a batch sized by the service thread from
 * an average cost still held the store 70-90 ms now and then, and every
 * place arriving meanwhile waited for all of it.
 *
 * Bounded by the callers: places by the order service's work queues (each
 * place holds a slot until answered), other operations by the service
 * thread's gate (one at a time). MAX_PLACES_PER_COMMIT bounds one
 * transaction of places; a slice holds at least MIN_SLICE_ROWS transitions.
 */
import type { OrderDb, OrderDbOp, PlaceOutcome, TransitionOutcome, TransitionRequest } from './order-db.js';

/** Orders to accept committed in one transaction at most; more wait for the next one (which goes first again). */
export const MAX_PLACES_PER_COMMIT = 64;

/**
 * Store time one slice of a batch of transitions aims at, ms (default of
 * LaneOptions.sliceBudgetMs): what a place arriving behind it waits, at
 * most, plus the cost of one transition when the estimate is off.
 */
export const SLICE_BUDGET_MS = 5;

/**
 * Transitions in a slice at least, however slow the store: the first slice
 * too, before any has been measured. Below this, a slice's fixed cost (begin,
 * four statements, commit) is paid for so few transitions that on a machine
 * short of CPU the saga writes fell behind the orders coming in (measured: at
 * one transition a slice, 118 of 2,000 orders confirmed at 100 orders/s).
 * So on such a machine a slice takes longer than the budget: throughput
 * first, the place waits for those 4.
 */
export const MIN_SLICE_ROWS = 4;

/** One run of the store: which operation, how many rows (transitions or places) it held, for how long (ms). */
export interface RanOp {
  readonly op: OrderDbOp | 'close';
  readonly rows: number;
  readonly ms: number;
}

/** What the run queue says about one answered request. */
export interface LaneReport {
  /** How long the request held the store, ms, over all its slices (for a place, its whole transaction). */
  readonly busyMs: number;
  /** Each run of the store the request took (one, or one per slice of a split batch). */
  readonly runs: readonly RanOp[];
  /** From being queued here to its (first) run starting, ms. */
  readonly waitedMs: number;
  /** For a place: the number of its transaction (1, 2, ... since start; equal for places committed together). */
  readonly placeCommit?: number;
  /** For a place: the run the store made just before its transaction (what it waited behind, if it waited). */
  readonly behind?: RanOp;
  /** True when a batch of transitions was split into several transactions. */
  readonly splits?: boolean;
}

/** One operation for the store: `op` with its arguments, answered through `answer`. */
export interface LaneRequest {
  readonly op: OrderDbOp | 'close';
  readonly args: readonly unknown[];
  answer(outcome: { value: unknown } | { error: unknown }, report: LaneReport): void;
}

/** What the lanes run operations on: the store's statements (OrderDb) or a test's stand-in. */
export type LaneStore = Pick<OrderDb, 'placeMany' | 'close'> & Record<Exclude<OrderDbOp, 'place'>, (...args: never[]) => Promise<unknown>>;

/** How many operations and place transactions ran; what tests and `orders.stats` count. */
export interface LaneCounts {
  /** Transactions of orders to accept (each one or more places). */
  readonly placeCommits: number;
  /** Orders to accept committed, over all of them. */
  readonly places: number;
  /** Other operations run (a split batch counts once). */
  readonly others: number;
  /** Slices run for batches of transitions (a batch run whole counts one). */
  readonly slices: number;
}

/** Options of the run queue. */
export interface LaneOptions {
  /** Store time one slice of a batch of transitions aims at, ms. Default SLICE_BUDGET_MS (5). */
  readonly sliceBudgetMs?: number;
  /** The clock, ms (default performance.now): tests script it to fix the measured cost. */
  readonly now?: () => number;
}

/** A request in the run queue; a batch of transitions keeps its progress across slices. */
interface Queued {
  readonly req: LaneRequest;
  readonly at: number;
  started?: number;
  done: number;
  readonly outcomes: TransitionOutcome[];
  readonly runs: RanOp[];
}

export class StoreLanes {
  private readonly places: Queued[] = [];
  private readonly rest: Queued[] = [];
  private running = false;
  private counts = { placeCommits: 0, places: 0, others: 0, slices: 0 };
  private last: RanOp | undefined;
  /** Moving average of one transition's store time in a slice (its share of the slice's fixed cost included), ms; 0 before any. */
  private transitionMs = 0;
  private readonly budgetMs: number;
  private readonly now: () => number;

  /**
   * @param store where operations run
   * @param beforePick called before each pick, so requests that arrived while the last operation ran are
   *   queued first (the worker drains its port; on the service thread, a turn of the event loop reads the sockets)
   */
  constructor(
    private readonly store: LaneStore,
    private readonly beforePick: () => void | Promise<void>,
    options: LaneOptions = {},
  ) {
    this.budgetMs = options.sliceBudgetMs ?? SLICE_BUDGET_MS;
    this.now = options.now ?? (() => performance.now());
  }

  get stats(): LaneCounts {
    return { ...this.counts };
  }

  /** Transitions the next slice may take: as many as fit the budget at the measured cost, at least MIN_SLICE_ROWS. */
  get sliceRows(): number {
    if (this.transitionMs <= 0) return MIN_SLICE_ROWS;
    return Math.max(MIN_SLICE_ROWS, Math.floor(this.budgetMs / this.transitionMs));
  }

  /** Queues one operation: a place in the first lane, anything else in the second. */
  submit(req: LaneRequest): void {
    (req.op === 'place' ? this.places : this.rest).push({ req, at: this.now(), done: 0, outcomes: [], runs: [] });
    if (!this.running) void this.drain();
  }

  private async drain(): Promise<void> {
    this.running = true;
    try {
      for (;;) {
        await this.beforePick();
        if (this.places.length > 0) await this.runPlaces(this.places.splice(0, MAX_PLACES_PER_COMMIT));
        else if (this.rest.length > 0) {
          // A batch of transitions with rows left stays at the head: the next pick takes waiting places first.
          if (await this.runOne(this.rest[0]!)) this.rest.shift();
        } else return;
      }
    } finally {
      this.running = false;
    }
  }

  private async runPlaces(batch: Queued[]): Promise<void> {
    const started = this.now();
    const behind = this.last;
    let outcomes: Array<PlaceOutcome | { error: string }> | undefined;
    let failure: unknown;
    try {
      outcomes = await this.store.placeMany(batch.map(({ req: r }) => ({ params: r.args[0] as unknown[], idempotencyKey: r.args[1] as string })));
    } catch (err) {
      failure = err;
    }
    const busyMs = this.now() - started;
    const run: RanOp = { op: 'place', rows: batch.length, ms: busyMs };
    this.last = run;
    const commit = outcomes ? ++this.counts.placeCommits : undefined;
    if (outcomes) this.counts.places += batch.length;
    batch.forEach((q, i) => {
      const report: LaneReport = { busyMs, runs: [run], waitedMs: started - q.at, ...(commit ? { placeCommit: commit } : {}), ...(behind ? { behind } : {}) };
      const o = outcomes?.[i];
      q.req.answer(!o ? { error: failure } : 'error' in o ? { error: new Error(o.error) } : { value: o }, report);
    });
  }

  /** Runs `q` or its next slice; true when it is answered. */
  private async runOne(q: Queued): Promise<boolean> {
    q.started ??= this.now();
    if (q.req.op === 'commitTransitions') return this.runSlice(q);
    const started = this.now();
    let outcome: { value: unknown } | { error: unknown };
    try {
      const fn = this.store[q.req.op as Exclude<OrderDbOp, 'place'> | 'close'] as (...a: unknown[]) => Promise<unknown>;
      outcome = { value: await fn.apply(this.store, q.req.args as unknown[]) };
    } catch (err) {
      outcome = { error: err };
    }
    const ms = this.now() - started;
    this.counts.others++;
    const run: RanOp = { op: q.req.op, rows: 1, ms };
    this.last = run;
    q.req.answer(outcome, { busyMs: ms, runs: [run], waitedMs: started - q.at });
    return true;
  }

  /**
   * One slice of a batch of transitions, in its own transaction. Each
   * transition commits its events, view and state together whichever slice
   * it is in; the batch only shares the statements. A slice that fails as a
   * whole answers its transitions with the error, the others still run.
   */
  private async runSlice(q: Queued): Promise<boolean> {
    const batch = q.req.args[0] as readonly TransitionRequest[];
    const rows = Math.min(this.sliceRows, batch.length - q.done);
    const slice = batch.slice(q.done, q.done + rows);
    const started = this.now();
    let outcomes: TransitionOutcome[];
    try {
      outcomes = (await this.store.commitTransitions(slice as never)) as TransitionOutcome[];
    } catch (err) {
      outcomes = slice.map(() => ({ error: (err as Error)?.message ?? String(err) }));
    }
    const ms = this.now() - started;
    this.counts.slices++;
    const run: RanOp = { op: 'commitTransitions', rows, ms };
    this.last = run;
    q.runs.push(run);
    q.outcomes.push(...outcomes);
    q.done += rows;
    if (rows > 0) this.transitionMs = this.transitionMs === 0 ? ms / rows : 0.8 * this.transitionMs + 0.2 * (ms / rows);
    if (q.done < batch.length) return false;
    this.counts.others++;
    const busyMs = q.runs.reduce((t, r) => t + r.ms, 0);
    q.req.answer({ value: q.outcomes }, { busyMs, runs: q.runs, waitedMs: q.started! - q.at, ...(q.runs.length > 1 ? { splits: true } : {}) });
    return true;
  }
}

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
 * Bounded by the callers: places by the order service's work queues (each
 * place holds a slot until answered), other operations by the service
 * thread's gate (one at a time). MAX_PLACES_PER_COMMIT bounds one transaction.
 */
import type { OrderDb, OrderDbOp, PlaceOutcome } from './order-db.js';

/** Orders to accept committed in one transaction at most; more wait for the next one (which goes first again). */
export const MAX_PLACES_PER_COMMIT = 64;

/** One operation for the store: `op` with its arguments, answered through `answer`. */
export interface LaneRequest {
  readonly op: OrderDbOp | 'close';
  readonly args: readonly unknown[];
  /**
   * `busyMs`: how long the operation (for a place, its whole transaction) held the store; `placeCommit`:
   * for a place, the number of its transaction (1, 2, ... since start; equal for places committed together).
   */
  answer(outcome: { value: unknown } | { error: unknown }, busyMs: number, placeCommit?: number): void;
}

/** What the lanes run operations on: the store's statements (OrderDb) or a test's stand-in. */
export type LaneStore = Pick<OrderDb, 'placeMany' | 'close'> & Record<Exclude<OrderDbOp, 'place'>, (...args: never[]) => Promise<unknown>>;

/** How many operations and place transactions ran; what tests and `orders.stats` count. */
export interface LaneCounts {
  /** Transactions of orders to accept (each one or more places). */
  readonly placeCommits: number;
  /** Orders to accept committed, over all of them. */
  readonly places: number;
  /** Other operations run. */
  readonly others: number;
}

export class StoreLanes {
  private readonly places: LaneRequest[] = [];
  private readonly rest: LaneRequest[] = [];
  private running = false;
  private counts = { placeCommits: 0, places: 0, others: 0 };

  /**
   * @param store where operations run
   * @param beforePick called before each pick, so requests that arrived while the last operation ran are
   *   queued first (the worker drains its port; on the service thread, a turn of the event loop reads the sockets)
   */
  constructor(
    private readonly store: LaneStore,
    private readonly beforePick: () => void | Promise<void>,
  ) {}

  get stats(): LaneCounts {
    return { ...this.counts };
  }

  /** Queues one operation: a place in the first lane, anything else in the second. */
  submit(req: LaneRequest): void {
    (req.op === 'place' ? this.places : this.rest).push(req);
    if (!this.running) void this.drain();
  }

  private async drain(): Promise<void> {
    this.running = true;
    try {
      for (;;) {
        await this.beforePick();
        if (this.places.length > 0) await this.runPlaces(this.places.splice(0, MAX_PLACES_PER_COMMIT));
        else if (this.rest.length > 0) await this.runOne(this.rest.shift()!);
        else return;
      }
    } finally {
      this.running = false;
    }
  }

  private async runPlaces(batch: LaneRequest[]): Promise<void> {
    const started = performance.now();
    let outcomes: Array<PlaceOutcome | { error: string }>;
    try {
      outcomes = await this.store.placeMany(batch.map((r) => ({ params: r.args[0] as unknown[], idempotencyKey: r.args[1] as string })));
    } catch (err) {
      for (const r of batch) r.answer({ error: err }, performance.now() - started);
      return;
    }
    const commit = ++this.counts.placeCommits;
    this.counts.places += batch.length;
    const busyMs = performance.now() - started;
    batch.forEach((r, i) => {
      const o = outcomes[i]!;
      r.answer('error' in o ? { error: new Error(o.error) } : { value: o }, busyMs, commit);
    });
  }

  private async runOne(req: LaneRequest): Promise<void> {
    const started = performance.now();
    try {
      const fn = this.store[req.op as Exclude<OrderDbOp, 'place'> | 'close'] as (...a: unknown[]) => Promise<unknown>;
      const value = await fn.apply(this.store, req.args as unknown[]);
      this.counts.others++;
      req.answer({ value }, performance.now() - started);
    } catch (err) {
      this.counts.others++;
      req.answer({ error: err }, performance.now() - started);
    }
  }
}

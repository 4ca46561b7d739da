/**
 * The order service's store: the source of truth for orders.
 *
 * - `orders`: one row per accepted order; `idempotency_key` is unique, so a
 *   key can never produce a second order, whatever the concurrency.
 * - `order_events`: the append-only event log, `(order_id, seq)` the key and
 *   `(order_id, type)` unique: a saga step re-run after a crash cannot log
 *   its event twice.
 * - `order_views`: the read model, each view the projection of its events
 *   (read-model.ts), written in the same transaction as the events.
 * - `sagas`: each order's saga state, failed attempts of the current step
 *   and when a parked compensation may run again.
 *
 * Every state change is atomic: placing an order commits the order, its
 * OrderPlaced event, its view and its saga together (one statement), and a
 * saga transition commits its events, the view and the new state together
 * (one transaction, shared with the other transitions of its batch).
 *
 * The statements run in a worker thread (order-db.ts, order-db-worker.ts):
 * PGlite executes synchronously, and on this thread it held the sockets of
 * the whole service while it ran. This class is what stays here: the order
 * of operations (accepting first), the batching of saga transitions, and
 * turning the worker's answers into the service's results and errors.
 */
import { createHash, randomUUID } from 'node:crypto';
import { SluiceError } from 'sluice';
import type { Logger } from 'sluice';
import { cartAmountCents } from './catalogue.js';
import { isTerminal, type OrderEvent } from './events.js';
import type { OrderDbChannel, StoreBusyStats } from './order-db-channel.js';
import { OrderDbClient } from './order-db-client.js';
import { InlineOrderDb } from './order-db-inline.js';
import type { StoreThread } from './config.js';
import type { TransitionOutcome } from './order-db.js';
import { project, type OrderStatus, type OrderView } from './read-model.js';
import { advance, isSagaState, type Saga, type SagaState, type Transition } from './saga.js';
import { commandFingerprint, type PlaceCommand } from './validation.js';
import { PlaceJournal, MAX_JOURNALED_PLACES, type JournalRecord } from './place-journal.js';
import { PlacedKeys } from './placed-keys.js';
import { MAX_PLACES_PER_COMMIT } from './order-db-lanes.js';

export interface PlaceResult {
  readonly orderId: string;
  readonly status: OrderStatus;
  /** False when the idempotency key had already placed this order. */
  readonly created: boolean;
  /** The saga just committed with a new order (so its runner need not read it back). */
  readonly saga?: Saga;
  /**
   * For a new order: resolves once its row is committed to the store (true),
   * or found there already placed by a line of the journal read back (false).
   * A journaled order is answered before that; its saga starts after it.
   */
  readonly stored?: Promise<boolean>;
}

/** How the place journal is used (OrderStore.open). */
export interface OrderStoreOptions {
  /** Orders journaled and not yet committed, at most; 0: no journal, every place waits for its commit. Default MAX_JOURNALED_PLACES. */
  readonly maxPending?: number;
  /** How long a journaled order waits for others to join its commit, ms. Default PLACE_LINGER_MS. */
  readonly lingerMs?: number;
  /** Bytes per journal segment (tests make it small). */
  readonly segmentBytes?: number;
  /** Store time a slice of a batch of transitions aims at, ms. Default JOURNALED_SLICE_BUDGET_MS with the journal on, SLICE_BUDGET_MS off. */
  readonly sliceBudgetMs?: number;
  /** The store worker thread's nice value (0: as the service's). Default STORE_WORKER_NICE. */
  readonly workerNice?: number;
}

/**
 * The store worker's nice value: its work is the service's background
 * work, so it yields the CPU to the thread answering places (and to the
 * other processes on the machine). 10: CFS then gives a busy nice-0 thread
 * about ten times its share when both want the CPU.
 */
export const STORE_WORKER_NICE = 10;

/**
 * The slice budget with the journal on (order-db-lanes.ts, SLICE_BUDGET_MS
 * is 5 without it): places no longer wait in the store's run queue, so a
 * batch of transitions need not be cut for them, and fewer, larger
 * transactions cost the store less CPU per transition. What still waits
 * behind a slice: reads, and places past the journal's bound.
 */
export const JOURNALED_SLICE_BUDGET_MS = 25;

/** What the place journal did since the store opened (`orders.stats`, `store.journal`). */
export interface JournalStats {
  /** Orders accepted from the journal (answered once written). */
  readonly journaled: number;
  /** Journaled and not yet committed, now; and at most. */
  readonly pending: number;
  readonly pendingMax: number;
  readonly capacity: number;
  /** Places that went through the store instead: the journal full, or the key perhaps already placed. */
  readonly full: number;
  readonly keyKnown: number;
  /** Batches of journaled orders sent to the store (each committed in one transaction, with any other places waiting). */
  readonly commits: number;
  /** Lines the last run left, placed again when the store opened. */
  readonly recovered: number;
  /** Commits of journaled orders that failed and were tried again. */
  readonly retries: number;
}

/** Default of OrderStoreOptions.lingerMs: a saga step takes far longer; a handful of orders share a commit at 100/s. */
export const PLACE_LINGER_MS = 25;
/** A failed commit of journaled orders is tried again after this long, ms (their lines stay in the journal meanwhile). */
const JOURNAL_RETRY_MS = 1_000;

/** An order journaled and not yet committed. */
interface JournaledPlace {
  readonly seq: number;
  readonly key: string;
  readonly orderId: string;
  readonly fingerprint: string;
  readonly params: readonly unknown[];
  readonly stored: Promise<boolean>;
  settle(inserted: boolean): void;
}

export interface OrderCounts {
  readonly total: number;
  readonly pending: number;
  readonly confirmed: number;
  readonly cancelled: number;
}

/**
 * One background store operation at a time (saga writes, reads): while one
 * runs, transitions asked for gather into the next batch, and the store's
 * run queue (order-db-lanes.ts) never holds more than one of them, so an
 * order to accept, which skips this gate and goes straight to the run
 * queue's first lane, waits for the one operation in progress at most.
 * (`urgent` goes first here too: closing the store.)
 *
 * Waiters are bounded by their callers (the work queue, the saga limit, the
 * watcher limit).
 */
export class PriorityGate {
  private busy = false;
  private readonly first: Array<() => void> = [];
  private readonly rest: Array<() => void> = [];
  private backgroundRuns = 0;

  /** Background operations finished since start. */
  get backgroundDone(): number {
    return this.backgroundRuns;
  }

  async run<T>(urgent: boolean, op: () => Promise<T>): Promise<T> {
    if (this.busy) await new Promise<void>((resolve) => (urgent ? this.first : this.rest).push(resolve));
    else this.busy = true;
    try {
      return await op();
    } finally {
      if (!urgent) this.backgroundRuns++;
      this.handOver();
    }
  }

  private handOver(): void {
    const next = this.first.shift() ?? this.rest.shift();
    if (next) next();
    else this.busy = false;
  }
}

/**
 * The order-service instance that owns an order: what follows the last `@`
 * of its id (`ord_<uuid>@order-2`). Undefined for an id without one (orders
 * placed before ids named their owner), which only the instance holding it
 * can answer for.
 */
export function orderOwner(orderId: string): string | undefined {
  const at = orderId.lastIndexOf('@');
  return at >= 0 && at < orderId.length - 1 ? orderId.slice(at + 1) : undefined;
}

/** A saga transition waiting for its batch (OrderStore.apply). */
interface PendingTransition {
  readonly orderId: string;
  readonly transition: Transition;
  resolve(events: OrderEvent[]): void;
  reject(err: unknown): void;
}

/**
 * Transitions in one background operation at most: enough to amortise the
 * trips to the store under load (one select, one insert, two updates per
 * transaction, whatever its size). How long they hold the store is bounded
 * where PGlite runs: the run queue (order-db-lanes.ts) commits a batch in
 * slices of about SLICE_BUDGET_MS and lets waiting places go between them.
 */
export const TRANSITIONS_PER_COMMIT = 32;

/**
 * How long a transition asked for on a store with no batch queued waits for
 * others to join it, ms, at most (a full batch goes at once). A batch's
 * cost in the store is mostly fixed (PGlite, CPU: one transition alone
 * 1.9-3.2 ms, four together 2.9-3.5 ms), and at 10 orders/s transitions
 * came about one per batch: two batches per order. Against a
 * saga's steps (inventory answers in seconds) the wait is nothing; an order
 * to accept never waits for it (places do not go through the batches).
 */
export const TRANSITION_LINGER_MS = 50;

/**
 * Up to `max` waiting transitions of distinct orders, removed from `queue` in
 * order. (A saga waits for its transition before asking for the next, so an
 * order appears twice only by a bug; the second then waits for the next batch.)
 */
function takeBatch(queue: PendingTransition[], max: number): PendingTransition[] {
  const batch: PendingTransition[] = [];
  const ids = new Set<string>();
  for (let i = 0; i < queue.length && batch.length < max; ) {
    const p = queue[i]!;
    if (ids.has(p.orderId)) {
      i++;
      continue;
    }
    ids.add(p.orderId);
    batch.push(p);
    queue.splice(i, 1);
  }
  return batch;
}

/** A new order's row values for PLACE_SQL, with the saga and status it starts with. */
function newOrder(cmd: PlaceCommand, owner: string): { orderId: string; digest: string; fingerprint: string; params: unknown[]; saga: Saga; status: OrderStatus } {
  const digest = keyDigest(cmd.idempotencyKey);
  const orderId = orderIdOf(digest, owner);
  const at = new Date().toISOString();
  const items = cmd.items.map((l) => ({ sku: l.sku, qty: l.qty }));
  const amountCents = cartAmountCents(items);
  const placed: OrderEvent = { type: 'OrderPlaced', orderId, seq: 1, at, customerId: cmd.customerId, items, amountCents };
  const { type, seq, ...rest } = placed;
  const details = { customerId: rest.customerId, items: rest.items, amountCents: rest.amountCents };
  const view = project(undefined, placed);
  const fingerprint = commandFingerprint(cmd);
  const params = [orderId, cmd.idempotencyKey, fingerprint, cmd.customerId, JSON.stringify(items), amountCents, at, type, seq, JSON.stringify(details), view.status, JSON.stringify(view)];
  const saga: Saga = { orderId, state: 'AUTHORIZING', attempts: 0, reason: null, lastError: null, items, amountCents };
  return { orderId, digest, fingerprint, params, saga, status: view.status };
}

/** Keys read per page when the placed-keys filter is filled. */
const KEYS_PAGE = 10_000;

/** The journal sits beside the store's directory: PGlite owns everything inside it. */
function journalDir(dir: string): string {
  return `${dir}.places`;
}

function reusedKey(key: string, orderId: string): SluiceError {
  return new SluiceError('INVALID_ARGUMENT', `'idempotencyKey' '${key}' already placed order ${orderId} with a different cart or customer`);
}

function settle(batch: readonly PendingTransition[], results: readonly TransitionOutcome[]): void {
  batch.forEach((p, i) => {
    const r = results[i]!;
    if ('error' in r) p.reject(new Error(r.error));
    else p.resolve(r.events);
  });
}

/**
 * The id of the order an idempotency key places on instance `owner`:
 * derived from the key (a UUID-shaped SHA-256 prefix), so a client that sent
 * a command through a durable route, and was acknowledged before any order
 * existed, knows which order to follow.
 */
export function orderIdFor(idempotencyKey: string, owner = 'order-1'): string {
  return orderIdOf(keyDigest(idempotencyKey), owner);
}

/** An idempotency key's SHA-256, hex: what its order id and the placed-keys filter are made from. */
function keyDigest(idempotencyKey: string): string {
  return createHash('sha256').update(idempotencyKey, 'utf8').digest('hex');
}

function orderIdOf(h: string, owner: string): string {
  return `ord_${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}@${owner}`;
}

export class OrderStore {
  private readonly gate = new PriorityGate();
  /** Transitions asked for and not yet committed: at most one per saga in memory (maxSagas). */
  private readonly transitions: PendingTransition[] = [];
  private transitionsQueued = false;
  /** The linger before the next batch (TRANSITION_LINGER_MS), while one runs. */
  private linger: ReturnType<typeof setTimeout> | undefined;
  /** Orders by status, from warmUp on (see counts). */
  private tally: { pending: number; confirmed: number; cancelled: number } | undefined;

  /** Idempotency keys that may have placed an order: a key it has certainly not seen may be journaled (only with the journal on). */
  private readonly keys: PlacedKeys | undefined;
  /** Orders journaled and not yet committed, by idempotency key and by order id (bounded by the journal's maxPending). */
  private readonly journaledByKey = new Map<string, JournaledPlace>();
  private readonly journaledById = new Map<string, JournaledPlace>();
  /** Journaled orders waiting for their commit to be asked for. */
  private toCommit: JournaledPlace[] = [];
  private commitTimer: ReturnType<typeof setTimeout> | undefined;
  /** Commits of journaled orders asked for and not yet answered. */
  private readonly committing = new Set<Promise<void>>();
  private closing = false;
  private journalCounts = { journaled: 0, pendingMax: 0, full: 0, keyKnown: 0, commits: 0, recovered: 0, retries: 0 };

  private constructor(
    private readonly db: OrderDbChannel,
    /** The instance this store belongs to: every order id it makes names it as owner. */
    private readonly owner: string,
    private readonly journal: PlaceJournal | undefined,
    private readonly lingerMs: number,
    private readonly log: Logger,
  ) {
    this.keys = journal ? new PlacedKeys() : undefined;
  }

  /** A store operation in the background lane (everything but accepting orders). */
  private background<T>(op: () => Promise<T>): Promise<T> {
    return this.gate.run(false, op);
  }

  /**
   * Store operations other than accepting orders (reads, saga writes, one
   * batch of transitions counting once) finished since the store opened.
   */
  get backgroundOps(): number {
    return this.gate.backgroundDone;
  }

  /** How long store operations held the store's worker: what accepting an order may wait behind. */
  get busy(): StoreBusyStats {
    return this.db.busy;
  }

  /**
   * Opens (creating on first use) the store in `dir` for order-service
   * instance `owner` (default `order-1`), in its own worker thread unless
   * `thread` is `'service'` (see docs/checkout.md, "Where the place tail was").
   */
  static async open(dir: string, log: Logger, owner = 'order-1', thread: StoreThread = 'worker', use: OrderStoreOptions = {}): Promise<OrderStore> {
    const maxPending = use.maxPending ?? MAX_JOURNALED_PLACES;
    const sliceBudgetMs = use.sliceBudgetMs ?? (maxPending > 0 ? JOURNALED_SLICE_BUDGET_MS : undefined);
    const workerNice = use.workerNice ?? STORE_WORKER_NICE;
    const { client, ms, nice } = thread === 'worker' ? await OrderDbClient.start(dir, { ...(sliceBudgetMs !== undefined ? { sliceBudgetMs } : {}), nice: workerNice }) : await InlineOrderDb.start(dir, sliceBudgetMs);
    if (thread === 'worker' && nice === null) log.warn({ nice: workerNice }, "store: could not lower the store worker's CPU priority; it runs at the service's");
    log.info({ dir, ms, thread, nice }, 'store opened');
    let opened: ReturnType<typeof PlaceJournal.open> | undefined;
    try {
      // Read back even with the journal off now: what a run with it left was accepted and must be placed.
      opened = PlaceJournal.open(journalDir(dir), { maxPending, ...(use.segmentBytes ? { segmentBytes: use.segmentBytes } : {}) });
      const store = new OrderStore(client, owner, maxPending > 0 ? opened.journal : undefined, use.lingerMs ?? PLACE_LINGER_MS, log);
      await store.replay(opened.recovered);
      opened.journal.discardRecovered();
      if (maxPending === 0) opened.journal.close();
      await store.fillKeys();
      return store;
    } catch (err) {
      opened?.journal.close();
      await client.close();
      throw err;
    }
  }

  /**
   * Places again what the last run journaled (idempotent by key: an order
   * committed before the stop is found, not placed twice). Its sagas start
   * with the others the runner finds in the store.
   */
  private async replay(records: readonly JournalRecord[]): Promise<void> {
    if (records.length === 0) return;
    for (let i = 0; i < records.length; i += MAX_PLACES_PER_COMMIT) {
      await Promise.all(records.slice(i, i + MAX_PLACES_PER_COMMIT).map((r) => this.db.call('place', [...r.params], r.key)));
    }
    this.journalCounts.recovered = records.length;
    this.log.info({ orders: records.length }, 'place journal: orders accepted before the last stop placed again');
  }

  /** Fills the placed-keys filter from the store, a page at a time. */
  private async fillKeys(): Promise<void> {
    const keys = this.keys;
    if (!keys) return;
    for (let after = ''; ; ) {
      const page = await this.db.call('placedKeys', after, KEYS_PAGE);
      for (const key of page) keys.add(keyDigest(key));
      if (page.length < KEYS_PAGE) return;
      after = page[page.length - 1]!;
    }
  }

  /**
   * Records a validated order with its OrderPlaced event, view and saga, or
   * returns the order its idempotency key already placed. A key reused with
   * a different cart or customer is INVALID_ARGUMENT and records nothing.
   */
  async place(cmd: PlaceCommand): Promise<PlaceResult> {
    const { orderId, digest, fingerprint, params, saga, status } = newOrder(cmd, this.owner);
    const key = cmd.idempotencyKey;
    const journaled = this.journaledByKey.get(key);
    if (journaled) {
      if (journaled.fingerprint !== fingerprint) throw reusedKey(key, journaled.orderId);
      return { orderId: journaled.orderId, status: 'PENDING', created: false };
    }
    if (this.journal && this.keys && !this.closing) {
      if (this.keys.mayHave(digest)) this.journalCounts.keyKnown++;
      else {
        const seq = this.journal.append(key, params);
        if (seq !== undefined) return { orderId, status, created: true, saga, stored: this.journaled(seq, key, orderId, digest, fingerprint, params) };
        this.journalCounts.full++;
      }
    }
    // Known before it is committed: a place of the same key meanwhile must not be journaled as new.
    this.keys?.add(digest);
    // Not through the gate: the run queue takes it ahead of any background operation waiting there and
    // commits it with the other places waiting, so places never wait for each other's trips.
    const outcome = await this.db.call('place', params, key);
    if (outcome.inserted) {
      if (this.tally) this.tally.pending++;
      return { orderId, status, created: true, saga, stored: Promise.resolve(true) };
    }
    if (outcome.fingerprint !== fingerprint) throw reusedKey(key, outcome.orderId);
    return { orderId: outcome.orderId, status: outcome.status, created: false };
  }

  /** Records an order just written to the journal; its commit is asked for after the linger, with the others waiting. */
  private journaled(seq: number, key: string, orderId: string, digest: string, fingerprint: string, params: readonly unknown[]): Promise<boolean> {
    let settle!: (inserted: boolean) => void;
    const stored = new Promise<boolean>((resolve) => (settle = resolve));
    const entry: JournaledPlace = { seq, key, orderId, fingerprint, params, stored, settle };
    this.keys!.add(digest);
    this.journaledByKey.set(key, entry);
    this.journaledById.set(orderId, entry);
    this.journalCounts.journaled++;
    this.journalCounts.pendingMax = Math.max(this.journalCounts.pendingMax, this.journaledByKey.size);
    if (this.tally) this.tally.pending++;
    this.toCommit.push(entry);
    if (this.toCommit.length >= MAX_PLACES_PER_COMMIT) this.commitJournaled();
    else this.commitTimer ??= setTimeout(() => this.commitJournaled(), this.lingerMs);
    return stored;
  }

  /**
   * Asks the store to commit the journaled orders waiting (the run queue
   * takes places posted together in one transaction). A failed commit keeps
   * its lines in the journal and is tried again after JOURNAL_RETRY_MS: the
   * orders were accepted, so they are never dropped; the journal's bound
   * stops new ones from piling up behind a failing store.
   */
  private commitJournaled(): void {
    if (this.commitTimer) clearTimeout(this.commitTimer);
    this.commitTimer = undefined;
    while (this.toCommit.length > 0) {
      const batch = this.toCommit.splice(0, MAX_PLACES_PER_COMMIT);
      this.journalCounts.commits++;
      for (const entry of batch) {
        const done: Promise<void> = this.db.call('place', [...entry.params], entry.key).then(
          (outcome) => {
            this.journal!.done(entry.seq);
            this.journaledByKey.delete(entry.key);
            this.journaledById.delete(entry.orderId);
            if (!outcome.inserted && outcome.fingerprint !== entry.fingerprint) {
              this.log.error({ orderId: entry.orderId, key: entry.key }, 'place journal: the key had placed another cart before this journaled order; the earlier order stands');
            }
            entry.settle(outcome.inserted);
          },
          (err: unknown) => {
            this.journalCounts.retries++;
            this.log.error({ err, orderId: entry.orderId }, 'place journal: committing a journaled order failed; it stays in the journal and is tried again');
            if (this.closing) return;
            this.toCommit.push(entry);
            this.commitTimer ??= setTimeout(() => this.commitJournaled(), JOURNAL_RETRY_MS);
          },
        );
        this.committing.add(done);
        void done.finally(() => this.committing.delete(done));
      }
    }
  }

  /** Resolves once a journaled order is committed (at once for any other): reads and writes of it wait for that. */
  private async committed(orderId: string): Promise<void> {
    const entry = this.journaledById.get(orderId);
    if (entry) await entry.stored;
  }

  /** What the place journal did since the store opened. */
  get journalStats(): JournalStats {
    const { journaled, pendingMax, full, keyKnown, commits, recovered, retries } = this.journalCounts;
    return { journaled, pending: this.journaledByKey.size, pendingMax, capacity: this.journal ? this.journal.capacity : 0, full, keyKnown, commits, recovered, retries };
  }

  /**
   * Runs what accepting an order and a saga transition run, `rounds` times,
   * in transactions rolled back: PGlite compiles its WebAssembly lazily, so
   * the first orders after a start paid tens to hundreds of ms each for
   * compiling the insert, planner and commit paths. Called before the
   * service registers, it moves that cost out of the first orders' way.
   * Default 1 round: it compiles nearly all of it for about 40 ms of CPU;
   * each further round costs as much again for little. Leaves the store as
   * it was.
   */
  async warmUp(rounds = 1): Promise<void> {
    for (let i = 0; i < rounds; i++) {
      const { orderId, params, saga } = newOrder({ idempotencyKey: `warm-up-${randomUUID()}`, customerId: 'warm-up', items: [{ sku: 'A1', qty: 1 }] }, this.owner);
      const transition = advance(saga, { kind: 'authorized', paymentId: 'warm-up', amountCents: saga.amountCents });
      await this.background(() => this.db.call('warmUp', params, orderId, transition));
    }
    // Compiling is not what serving costs: the busy figures start after it.
    this.db.resetBusy();
    // Before the service takes any order: nothing moves the counts while they are read.
    const { pending, confirmed, cancelled } = await this.readCounts();
    this.tally = { pending, confirmed, cancelled };
  }

  /** Up to `limit` events of an order from `fromSeq` on, in order. */
  async events(orderId: string, fromSeq: number, limit: number): Promise<OrderEvent[]> {
    await this.committed(orderId);
    return this.background(() => this.db.call('events', orderId, fromSeq, limit));
  }

  async view(orderId: string): Promise<OrderView | undefined> {
    await this.committed(orderId);
    return this.background(() => this.db.call('view', orderId));
  }

  async saga(orderId: string): Promise<Saga | undefined> {
    await this.committed(orderId);
    const row = await this.background(() => this.db.call('saga', orderId));
    if (!row) return undefined;
    if (!isSagaState(row.state)) throw new Error(`order ${orderId}: unknown saga state '${row.state}' in the store`);
    return { orderId: row.order_id, state: row.state, attempts: row.attempts, reason: row.reason, lastError: row.last_error, items: row.items, amountCents: row.amount_cents };
  }

  /**
   * Commits a transition: its events (seq continuing the log), the view they
   * project to and the new saga state. Refuses a transition from a state the
   * saga is no longer in.
   *
   * Transitions asked for while the store is busy, or within
   * TRANSITION_LINGER_MS of each other, are committed together, up to
   * TRANSITIONS_PER_COMMIT in one operation, in transactions of a
   * fixed number of statements whatever their number: under load the saga
   * writes cost a few trips into PGlite per batch rather than six per
   * transition. The run queue splits a batch into slices of about
   * SLICE_BUDGET_MS of store time, so an order to accept waits for one
   * slice at most.
   */
  async apply(orderId: string, transition: Transition): Promise<OrderEvent[]> {
    // A saga of a journaled order may be offered before its row is committed: its writes go after it.
    await this.committed(orderId);
    return new Promise<OrderEvent[]>((resolve, reject) => {
      this.transitions.push({ orderId, transition, resolve, reject });
      this.commitTransitionsLater();
    }).then((events) => {
      const end = events.find(isTerminal);
      if (end && this.tally) {
        this.tally.pending--;
        if (end.type === 'OrderConfirmed') this.tally.confirmed++;
        else this.tally.cancelled++;
      }
      return events;
    });
  }

  /**
   * Queues one background operation committing the waiting transitions,
   * unless one is queued already: after TRANSITION_LINGER_MS, or at once
   * when a full batch is waiting.
   */
  private commitTransitionsLater(): void {
    if (this.transitionsQueued || this.transitions.length === 0) return;
    if (this.transitions.length < TRANSITIONS_PER_COMMIT) {
      this.linger ??= setTimeout(() => {
        this.linger = undefined;
        this.queueTransitions();
      }, TRANSITION_LINGER_MS);
      return;
    }
    this.queueTransitions();
  }

  private queueTransitions(): void {
    if (this.linger) {
      clearTimeout(this.linger);
      this.linger = undefined;
    }
    if (this.transitionsQueued || this.transitions.length === 0) return;
    this.transitionsQueued = true;
    void this.background(async () => {
      // From here on, transitions asked for go into the next batch.
      this.transitionsQueued = false;
      const batch = takeBatch(this.transitions, TRANSITIONS_PER_COMMIT);
      if (batch.length === 0) return;
      try {
        const outcomes = await this.db.call('commitTransitions', batch.map(({ orderId, transition }) => ({ orderId, transition })));
        settle(batch, outcomes);
      } catch (err) {
        for (const p of batch) p.reject(err);
      }
    }).finally(() => this.commitTransitionsLater());
  }

  /** Counts a failed attempt of the current step, so retries stay bounded across restarts. */
  async noteFailedAttempt(orderId: string, state: SagaState, attempts: number, error: string): Promise<void> {
    await this.committed(orderId);
    return this.background(() => this.db.call('noteFailedAttempt', orderId, state, attempts, error));
  }

  /** Parks a saga until `retryAtMs` (epoch ms) with a fresh attempt budget. */
  async park(orderId: string, state: SagaState, retryAtMs: number, error: string): Promise<void> {
    await this.committed(orderId);
    return this.background(() => this.db.call('park', orderId, state, retryAtMs, error));
  }

  /** Non-terminal sagas due to run (not parked), oldest first, skipping `running`. */
  dueSagas(running: readonly string[], limit: number, nowMs: number): Promise<string[]> {
    return this.background(() => this.db.call('dueSagas', running, limit, nowMs));
  }

  /**
   * Orders by status. Kept in memory once the store is warmed up (counted
   * there, before the service takes any order, then moved by each place and
   * each transition committing OrderConfirmed or OrderCancelled): reading it
   * from the store scanned every order's view, a background operation of
   * 16-30 ms at 100 orders/s that `orders.stats` asked for every second.
   */
  async counts(): Promise<OrderCounts> {
    if (this.tally) return { total: this.tally.pending + this.tally.confirmed + this.tally.cancelled, ...this.tally };
    return this.readCounts();
  }

  private async readCounts(): Promise<OrderCounts> {
    const rows = await this.background(() => this.db.call('counts'));
    const by = Object.fromEntries(rows.map((r) => [r.status, r.n])) as Partial<Record<OrderStatus, number>>;
    const pending = by.PENDING ?? 0;
    const confirmed = by.CONFIRMED ?? 0;
    const cancelled = by.CANCELLED ?? 0;
    return { total: pending + confirmed + cancelled, pending, confirmed, cancelled };
  }

  /** Sagas parked after failed compensation attempts. */
  parkedCount(): Promise<number> {
    return this.background(() => this.db.call('parkedCount'));
  }

  /** Closes the store after the operation in progress, and stops its worker. */
  async close(): Promise<void> {
    // Journaled orders lingering are committed now: a clean stop leaves no journal to read back.
    this.closing = true;
    this.commitJournaled();
    await Promise.allSettled([...this.committing]);
    this.journal?.close();
    // Transitions lingering go to the gate now, as they would have without the linger.
    this.queueTransitions();
    return this.gate.run(true, () => this.db.close());
  }
}

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
 */
import { createHash, randomUUID } from 'node:crypto';
import { SluiceError } from 'sluice';
import type { Logger } from 'sluice';
import { cartAmountCents } from './catalogue.js';
import { openStore, type Store } from './db.js';
import type { Transaction } from '@electric-sql/pglite';
import type { EventDraft, OrderEvent, OrderLine } from './events.js';
import { project, type OrderStatus, type OrderView } from './read-model.js';
import { advance, isSagaState, type Saga, type SagaState, type Transition } from './saga.js';
import { commandFingerprint, type PlaceCommand } from './validation.js';

export interface PlaceResult {
  readonly orderId: string;
  readonly status: OrderStatus;
  /** False when the idempotency key had already placed this order. */
  readonly created: boolean;
  /** The saga just committed with a new order (so its runner need not read it back). */
  readonly saga?: Saga;
}

export interface OrderCounts {
  readonly total: number;
  readonly pending: number;
  readonly confirmed: number;
  readonly cancelled: number;
}

const SCHEMA = `
create table if not exists orders (
  order_id text primary key,
  idempotency_key text not null unique,
  fingerprint text not null,
  customer_id text not null,
  items json not null,
  amount_cents integer not null,
  created_at text not null
);
create table if not exists order_events (
  order_id text not null references orders (order_id),
  seq integer not null check (seq >= 1),
  type text not null,
  at text not null,
  details json not null,
  primary key (order_id, seq),
  unique (order_id, type)
);
create table if not exists order_views (
  order_id text primary key references orders (order_id),
  status text not null,
  view json not null
);
create table if not exists sagas (
  order_id text primary key references orders (order_id),
  state text not null,
  attempts integer not null default 0,
  reason text,
  last_error text,
  retry_at double precision,
  created_seq bigserial
);
create index if not exists sagas_active on sagas (created_seq) where state not in ('CONFIRMED', 'CANCELLED');
`;

/**
 * Accepting an order: the order, its OrderPlaced event, its view and its
 * saga in one statement (data-modifying CTEs), answering how many orders it
 * inserted (0 when the idempotency key already placed one).
 */
const PLACE_SQL = `
with o as (
  insert into orders values ($1, $2, $3, $4, $5, $6, $7) on conflict (idempotency_key) do nothing returning order_id
), e as (
  insert into order_events select order_id, $9::integer, $8::text, $7::text, $10::json from o
), v as (
  insert into order_views select order_id, $11::text, $12::json from o
), s as (
  insert into sagas (order_id, state) select order_id, 'AUTHORIZING' from o
)
select count(*)::int as n from o`;

interface EventRow {
  order_id: string;
  seq: number;
  type: string;
  at: string;
  details: Record<string, unknown>;
}

interface SagaRow {
  order_id: string;
  state: string;
  attempts: number;
  reason: string | null;
  last_error: string | null;
  items: OrderLine[];
  amount_cents: number;
}

/**
 * One store operation at a time, accepting orders first: PGlite runs one
 * statement at a time anyway, and without this a burst of saga writes queued
 * ahead of a `checkout.place` would make accepting an order wait for the
 * background work of the orders before it.
 *
 * PGlite executes on this thread and its promises settle as microtasks, so
 * handing the store from one queued operation straight to the next never
 * returns to the event loop: a backlog of saga writes ran as one block of
 * hundreds of milliseconds, during which a `checkout.place` arriving on the
 * socket was not even read, let alone put first. So a background operation
 * is handed the store only after a turn of the event loop (setImmediate):
 * what arrived meanwhile is read, and an order to accept goes ahead of it.
 * An order to accept is handed the store at once.
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
    const urgent = this.first.shift();
    if (urgent) return urgent();
    if (this.rest.length === 0) {
      this.busy = false;
      return;
    }
    // Still busy through the turn: nothing can slip in ahead except by queueing, where accepting goes first.
    setImmediate(() => {
      const next = this.first.shift() ?? this.rest.shift();
      if (next) next();
      else this.busy = false;
    });
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
 * Transitions committed in one transaction at most: enough to amortise the
 * trips into PGlite under load, few enough that the batch (one select, one
 * insert, two updates over at most this many orders) stays a few ms, which
 * is what an order to accept may wait behind.
 */
export const TRANSITIONS_PER_COMMIT = 32;

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
function newOrder(cmd: PlaceCommand, owner: string): { orderId: string; fingerprint: string; params: unknown[]; saga: Saga; status: OrderStatus } {
  const orderId = orderIdFor(cmd.idempotencyKey, owner);
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
  return { orderId, fingerprint, params, saga, status: view.status };
}

function settle(batch: readonly PendingTransition[], results: ReadonlyArray<OrderEvent[] | Error>): void {
  batch.forEach((p, i) => {
    const r = results[i]!;
    if (r instanceof Error) p.reject(r);
    else p.resolve(r);
  });
}

/**
 * The id of the order an idempotency key places on instance `owner`:
 * derived from the key (a UUID-shaped SHA-256 prefix), so a client that sent
 * a command through a durable route, and was acknowledged before any order
 * existed, knows which order to follow.
 */
export function orderIdFor(idempotencyKey: string, owner = 'order-1'): string {
  const h = createHash('sha256').update(idempotencyKey, 'utf8').digest('hex');
  return `ord_${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}@${owner}`;
}

export class OrderStore {
  private readonly gate = new PriorityGate();
  /** Transitions asked for and not yet committed: at most one per saga in memory (maxSagas). */
  private readonly transitions: PendingTransition[] = [];
  private transitionsQueued = false;

  private constructor(
    private readonly store: Store,
    /** The instance this store belongs to: every order id it makes names it as owner. */
    private readonly owner: string,
  ) {}

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

  /** Opens (creating on first use) the store in `dir` for order-service instance `owner` (default `order-1`). */
  static async open(dir: string, log: Logger, owner = 'order-1'): Promise<OrderStore> {
    return new OrderStore(await openStore(dir, SCHEMA, log), owner);
  }

  /**
   * Records a validated order with its OrderPlaced event, view and saga, or
   * returns the order its idempotency key already placed. A key reused with
   * a different cart or customer is INVALID_ARGUMENT and records nothing.
   */
  place(cmd: PlaceCommand): Promise<PlaceResult> {
    const { orderId, fingerprint, params, saga, status } = newOrder(cmd, this.owner);
    return this.gate.run(true, async () => {
      // One statement, so one trip into PGlite and atomic by itself. The unique key decides: a second
      // insert with the same key inserts nothing, whatever the timing, and then neither do the others.
      const inserted = (await this.store.db.query<{ n: number }>(PLACE_SQL, params)).rows[0]!.n;
      if (inserted === 0) {
        const existing = (await this.store.db.query<{ order_id: string; fingerprint: string; status: OrderStatus }>(
          'select o.order_id, o.fingerprint, v.status from orders o join order_views v using (order_id) where o.idempotency_key = $1',
          [cmd.idempotencyKey],
        )).rows[0]!;
        if (existing.fingerprint !== fingerprint) {
          throw new SluiceError('INVALID_ARGUMENT', `'idempotencyKey' '${cmd.idempotencyKey}' already placed order ${existing.order_id} with a different cart or customer`);
        }
        return { orderId: existing.order_id, status: existing.status, created: false };
      }
      return { orderId, status, created: true, saga };
    });
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
      await this.store.db.transaction(async (tx) => {
        const { orderId, params, saga } = newOrder({ idempotencyKey: `warm-up-${randomUUID()}`, customerId: 'warm-up', items: [{ sku: 'A1', qty: 1 }] }, this.owner);
        await tx.query(PLACE_SQL, params);
        const transition = advance(saga, { kind: 'authorized', paymentId: 'warm-up', amountCents: saga.amountCents });
        await this.commitTransitionsIn(tx, [{ orderId, transition, resolve: () => {}, reject: () => {} }]);
        await tx.query('select * from order_events where order_id = $1 and seq >= $2 order by seq limit $3', [orderId, 1, 16]);
        await tx.query('select view from order_views where order_id = $1', [orderId]);
        await tx.rollback();
      });
    }
  }

  /** Up to `limit` events of an order from `fromSeq` on, in order. */
  async events(orderId: string, fromSeq: number, limit: number): Promise<OrderEvent[]> {
    const rows = (await this.background(() => this.store.db.query<EventRow>('select * from order_events where order_id = $1 and seq >= $2 order by seq limit $3', [orderId, fromSeq, limit]))).rows;
    return rows.map(toEvent);
  }

  async view(orderId: string): Promise<OrderView | undefined> {
    return (await this.background(() => this.store.db.query<{ view: OrderView }>('select view from order_views where order_id = $1', [orderId]))).rows[0]?.view;
  }

  async saga(orderId: string): Promise<Saga | undefined> {
    const row = (await this.background(() => this.store.db.query<SagaRow>(
      'select s.order_id, s.state, s.attempts, s.reason, s.last_error, o.items, o.amount_cents from sagas s join orders o using (order_id) where s.order_id = $1',
      [orderId],
    ))).rows[0];
    if (!row) return undefined;
    if (!isSagaState(row.state)) throw new Error(`order ${orderId}: unknown saga state '${row.state}' in the store`);
    return { orderId: row.order_id, state: row.state, attempts: row.attempts, reason: row.reason, lastError: row.last_error, items: row.items, amountCents: row.amount_cents };
  }

  /**
   * Commits a transition: its events (seq continuing the log), the view they
   * project to and the new saga state. Refuses a transition from a state the
   * saga is no longer in.
   *
   * Transitions asked for while the store is busy are committed together,
   * up to TRANSITIONS_PER_COMMIT in one transaction of a fixed number of
   * statements, whatever their number: under load the saga writes cost a few
   * trips into PGlite per batch rather than six per transition, and an order
   * to accept waits for one batch at most.
   */
  apply(orderId: string, transition: Transition): Promise<OrderEvent[]> {
    return new Promise<OrderEvent[]>((resolve, reject) => {
      this.transitions.push({ orderId, transition, resolve, reject });
      this.commitTransitionsLater();
    });
  }

  /** Queues one background operation committing the waiting transitions, unless one is queued already. */
  private commitTransitionsLater(): void {
    if (this.transitionsQueued || this.transitions.length === 0) return;
    this.transitionsQueued = true;
    void this.background(async () => {
      // From here on, transitions asked for go into the next batch.
      this.transitionsQueued = false;
      const batch = takeBatch(this.transitions, TRANSITIONS_PER_COMMIT);
      if (batch.length === 0) return;
      try {
        settle(batch, await this.commitTransitions(batch));
      } catch (err) {
        if (batch.length === 1) return batch[0]!.reject(err);
        // Something in the batch failed the whole transaction: commit each alone, so only the offender fails.
        for (const one of batch) {
          try {
            settle([one], await this.commitTransitions([one]));
          } catch (e) {
            one.reject(e);
          }
        }
      }
    }).finally(() => this.commitTransitionsLater());
  }

  /** One transaction for `batch` (distinct orders): each entry's events, or the error refusing it. */
  private commitTransitions(batch: readonly PendingTransition[]): Promise<Array<OrderEvent[] | Error>> {
    return this.store.db.transaction((tx) => this.commitTransitionsIn(tx, batch));
  }

  private async commitTransitionsIn(tx: Transaction, batch: readonly PendingTransition[]): Promise<Array<OrderEvent[] | Error>> {
    {
      const ids = batch.map((p) => p.orderId);
      const rows = (await tx.query<{ order_id: string; state: string; view: OrderView }>(
        'select s.order_id, s.state, v.view from sagas s join order_views v using (order_id) where s.order_id = any($1::text[])',
        [ids],
      )).rows;
      const current = new Map(rows.map((r) => [r.order_id, r]));
      const at = new Date().toISOString();
      const results: Array<OrderEvent[] | Error> = [];
      const appended: OrderEvent[] = [];
      const changed = { ids: [] as string[], statuses: [] as string[], views: [] as string[], states: [] as string[], reasons: [] as Array<string | null> };
      for (const { orderId, transition } of batch) {
        const row = current.get(orderId);
        if (row?.state !== transition.from) {
          results.push(new Error(`order ${orderId}: saga is in state ${row?.state ?? 'none'}, not ${transition.from}`));
          continue;
        }
        let view = row.view;
        const events: OrderEvent[] = [];
        for (const draft of transition.events) {
          const event = withEnvelope(draft, orderId, view.lastSeq + 1, at);
          view = project(view, event);
          events.push(event);
        }
        appended.push(...events);
        results.push(events);
        changed.ids.push(orderId);
        changed.statuses.push(view.status);
        changed.views.push(JSON.stringify(view));
        changed.states.push(transition.to);
        changed.reasons.push(transition.reason);
      }
      if (changed.ids.length === 0) return results;
      await insertEvents(tx, appended);
      await tx.query(
        'update order_views v set status = x.status, view = x.view::json from unnest($1::text[], $2::text[], $3::text[]) as x(order_id, status, view) where v.order_id = x.order_id',
        [changed.ids, changed.statuses, changed.views],
      );
      await tx.query(
        'update sagas s set state = x.state, attempts = 0, reason = x.reason, last_error = null, retry_at = null from unnest($1::text[], $2::text[], $3::text[]) as x(order_id, state, reason) where s.order_id = x.order_id',
        [changed.ids, changed.states, changed.reasons],
      );
      return results;
    }
  }

  /** Counts a failed attempt of the current step, so retries stay bounded across restarts. */
  async noteFailedAttempt(orderId: string, state: SagaState, attempts: number, error: string): Promise<void> {
    await this.background(() => this.store.db.query('update sagas set attempts = $3, last_error = $4 where order_id = $1 and state = $2', [orderId, state, attempts, error]));
  }

  /** Parks a saga until `retryAtMs` (epoch ms) with a fresh attempt budget. */
  async park(orderId: string, state: SagaState, retryAtMs: number, error: string): Promise<void> {
    await this.background(() => this.store.db.query('update sagas set attempts = 0, retry_at = $3, last_error = $4 where order_id = $1 and state = $2', [orderId, state, retryAtMs, error]));
  }

  /** Non-terminal sagas due to run (not parked), oldest first, skipping `running`. */
  async dueSagas(running: readonly string[], limit: number, nowMs: number): Promise<string[]> {
    const rows = (await this.background(() => this.store.db.query<{ order_id: string }>(
      `select order_id from sagas
       where state not in ('CONFIRMED', 'CANCELLED') and (retry_at is null or retry_at <= $1) and not (order_id = any($2::text[]))
       order by created_seq limit $3`,
      [nowMs, running, limit],
    ))).rows;
    return rows.map((r) => r.order_id);
  }

  async counts(): Promise<OrderCounts> {
    const rows = (await this.background(() => this.store.db.query<{ status: OrderStatus; n: number }>('select status, count(*)::int as n from order_views group by status'))).rows;
    const by = Object.fromEntries(rows.map((r) => [r.status, r.n])) as Partial<Record<OrderStatus, number>>;
    const pending = by.PENDING ?? 0;
    const confirmed = by.CONFIRMED ?? 0;
    const cancelled = by.CANCELLED ?? 0;
    return { total: pending + confirmed + cancelled, pending, confirmed, cancelled };
  }

  /** Sagas parked after failed compensation attempts. */
  async parkedCount(): Promise<number> {
    return (await this.background(() => this.store.db.query<{ n: number }>("select count(*)::int as n from sagas where retry_at is not null and state not in ('CONFIRMED', 'CANCELLED')"))).rows[0]?.n ?? 0;
  }

  close(): Promise<void> {
    return this.store.close();
  }
}

type Queryable = { query(sql: string, params?: unknown[]): Promise<unknown> };

/** One statement for all of a transition's events (each statement is a round trip into PGlite). */
async function insertEvents(tx: Queryable, events: readonly OrderEvent[]): Promise<void> {
  if (events.length === 0) return;
  const params: unknown[] = [];
  const rows = events.map((event) => {
    const { type, orderId, seq, at, ...details } = event;
    params.push(orderId, seq, type, at, JSON.stringify(details));
    const b = params.length - 5;
    return `($${b + 1}, $${b + 2}, $${b + 3}, $${b + 4}, $${b + 5})`;
  });
  await tx.query(`insert into order_events values ${rows.join(', ')}`, params);
}

function withEnvelope(draft: EventDraft, orderId: string, seq: number, at: string): OrderEvent {
  const { type, ...details } = draft;
  return { type, orderId, seq, at, ...details } as OrderEvent;
}

function toEvent(row: EventRow): OrderEvent {
  return { type: row.type, orderId: row.order_id, seq: row.seq, at: row.at, ...row.details } as OrderEvent;
}

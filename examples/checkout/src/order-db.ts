/**
 * The order store's statements, run where PGlite runs: in the order
 * service's store worker (order-db-worker.ts), never on the thread serving
 * RSocket. PGlite executes WebAssembly synchronously; on the service's own
 * thread a batch of saga writes held every socket (and every order to
 * accept) for as long as it ran, which was the accept tail under load.
 *
 * Every operation here is one message from the service thread and answers
 * with plain data (structured-clone safe): no errors are thrown across for
 * expected outcomes (a key already used, a transition from a stale state);
 * those are answers the service thread turns into its own errors.
 *
 * Imports nothing from Sluice at run time: the worker stays small and starts fast.
 */
import { openStore, type Store } from './db.js';
import type { Transaction } from '@electric-sql/pglite';
import type { EventDraft, OrderEvent, OrderLine } from './events.js';
import { project, type OrderStatus, type OrderView } from './read-model.js';
import type { SagaState, Transition } from './saga.js';

export const SCHEMA = `
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
create index if not exists sagas_parked on sagas (retry_at) where retry_at is not null and state not in ('CONFIRMED', 'CANCELLED');
`;

/**
 * Accepting orders: each order, its OrderPlaced event, its view and its
 * saga, for any number of orders in ONE statement (data-modifying CTEs over
 * the columns as arrays, `n` keeping the batch's order), answering the ids
 * it inserted. An idempotency key already used inserts nothing, and neither
 * does a key's second row in the same batch. PGlite's cost is per statement
 * (parse, plan, executor start): N statements for N waiting places made the
 * transaction of a busy moment cost N times one place.
 */
const PLACE_SQL = `
with a as (
  select * from unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::integer[], $7::text[], $8::text[], $9::integer[], $10::text[], $11::text[], $12::text[])
    with ordinality as a(order_id, idempotency_key, fingerprint, customer_id, items, amount_cents, at, type, seq, details, status, view, n)
), x as (
  -- A key's first row only (its order id comes from the key): a second would join the inserted order twice.
  select distinct on (order_id) * from a order by order_id, n
), o as (
  insert into orders select order_id, idempotency_key, fingerprint, customer_id, items::json, amount_cents, at from x order by n
    on conflict (idempotency_key) do nothing returning order_id
), e as (
  insert into order_events select x.order_id, x.seq, x.type, x.at, x.details::json from x join o using (order_id)
), v as (
  insert into order_views select x.order_id, x.status, x.view::json from x join o using (order_id)
), s as (
  insert into sagas (order_id, state) select x.order_id, 'AUTHORIZING' from x join o using (order_id) order by x.n
)
select order_id from o`;

/** The orders some idempotency keys already placed. */
const PLACED_SQL = 'select o.idempotency_key, o.order_id, o.fingerprint, v.status from orders o join order_views v using (order_id) where o.idempotency_key = any($1::text[])';

const SAGA_SQL = 'select s.order_id, s.state, s.attempts, s.reason, s.last_error, o.items, o.amount_cents from sagas s join orders o using (order_id) where s.order_id = $1';
// The sagas running in memory are left out by a (hash) anti-join: \`not (order_id = any($2))\` compared
// every saga in the store with every running one, and took 60-85 ms at 100 orders/s (thousands of each).
const DUE_SQL = `select s.order_id from sagas s left join unnest($2::text[]) as r(order_id) using (order_id)
  where s.state not in ('CONFIRMED', 'CANCELLED') and (s.retry_at is null or s.retry_at <= $1) and r.order_id is null
  order by s.created_seq limit $3`;
const COUNTS_SQL = 'select status, count(*)::int as n from order_views group by status';
const PARKED_SQL = "select count(*)::int as n from sagas where retry_at is not null and state not in ('CONFIRMED', 'CANCELLED')";
/** A page of idempotency keys in key order (the unique index on the key serves it). */
const KEYS_SQL = 'select idempotency_key as k from orders where idempotency_key > $1 order by idempotency_key limit $2';
const NOTE_ATTEMPT_SQL = 'update sagas set attempts = $3, last_error = $4 where order_id = $1 and state = $2';
const PARK_SQL = 'update sagas set attempts = 0, retry_at = $3, last_error = $4 where order_id = $1 and state = $2';

/** What placing answers: inserted, or the order the key already placed. */
export type PlaceOutcome = { inserted: true } | { inserted: false; orderId: string; fingerprint: string; status: OrderStatus };

/** PLACE_SQL's columns, in the order of a PlaceRequest's `params`. */
const PLACE_COLUMNS = ['order_id', 'idempotency_key', 'fingerprint', 'customer_id', 'items', 'amount_cents', 'at', 'type', 'seq', 'details', 'status', 'view'] as const;

/** One order to accept: its row values (PLACE_COLUMNS) and its idempotency key. */
export interface PlaceRequest {
  readonly params: unknown[];
  readonly idempotencyKey: string;
}

/** One transition of a batch: its order and what to commit. */
export interface TransitionRequest {
  readonly orderId: string;
  readonly transition: Transition;
}

/** A transition's committed events, or why it was refused. */
export type TransitionOutcome = { events: OrderEvent[] } | { error: string };

export interface SagaRow {
  order_id: string;
  state: string;
  attempts: number;
  reason: string | null;
  last_error: string | null;
  items: OrderLine[];
  amount_cents: number;
}

interface EventRow {
  order_id: string;
  seq: number;
  type: string;
  at: string;
  details: Record<string, unknown>;
}

/** The operations the worker serves: name, arguments, answer. */
export interface OrderDbOps {
  /** Accepting an order; the store's run queue (order-db-lanes.ts) commits the places waiting together (placeMany). */
  place(params: unknown[], idempotencyKey: string): Promise<PlaceOutcome>;
  warmUp(params: unknown[], orderId: string, transition: Transition): Promise<void>;
  commitTransitions(batch: readonly TransitionRequest[]): Promise<TransitionOutcome[]>;
  events(orderId: string, fromSeq: number, limit: number): Promise<OrderEvent[]>;
  view(orderId: string): Promise<OrderView | undefined>;
  saga(orderId: string): Promise<SagaRow | undefined>;
  noteFailedAttempt(orderId: string, state: SagaState, attempts: number, error: string): Promise<void>;
  park(orderId: string, state: SagaState, retryAtMs: number, error: string): Promise<void>;
  dueSagas(running: readonly string[], limit: number, nowMs: number): Promise<string[]>;
  counts(): Promise<Array<{ status: OrderStatus; n: number }>>;
  parkedCount(): Promise<number>;
  /** Up to `limit` idempotency keys after `after`, in key order: the placed-keys filter is filled from them. */
  placedKeys(after: string, limit: number): Promise<string[]>;
}

export type OrderDbOp = keyof OrderDbOps;

/** The order store's statements over one open PGlite store. */
export class OrderDb implements OrderDbOps {
  private constructor(private readonly store: Store) {}

  /** Opens (creating on first use) the store in `dir`; `ms` is how long opening took. */
  static async open(dir: string): Promise<{ db: OrderDb; ms: number }> {
    const started = Date.now();
    const store = await openStore(dir, SCHEMA, { info: () => {} });
    return { db: new OrderDb(store), ms: Date.now() - started };
  }

  close(): Promise<void> {
    return this.store.close();
  }

  async place(params: unknown[], idempotencyKey: string): Promise<PlaceOutcome> {
    return (await this.placeIn(this.store.db, [{ params, idempotencyKey }]))[0]!;
  }

  /**
   * Several orders to accept in one statement and one transaction: one
   * commit (and one trip from the service thread) for all of them. Each
   * answers as `place` would; two with the same key in one batch place one
   * order, the second finding the first's. Should something fail the whole
   * statement, each is placed alone, so only the offender fails.
   */
  async placeMany(batch: readonly PlaceRequest[]): Promise<Array<PlaceOutcome | { error: string }>> {
    try {
      return await this.store.db.transaction((tx) => this.placeIn(tx, batch));
    } catch (err) {
      if (batch.length === 1) return [{ error: (err as Error).message }];
      const out: Array<PlaceOutcome | { error: string }> = [];
      for (const one of batch) {
        try {
          out.push((await this.placeIn(this.store.db, [one]))[0]!);
        } catch (e) {
          out.push({ error: (e as Error).message });
        }
      }
      return out;
    }
  }

  private async placeIn(db: Queryable, batch: readonly PlaceRequest[]): Promise<PlaceOutcome[]> {
    // One statement, so atomic by itself. The unique key decides: a second insert with the same key
    // inserts nothing, whatever the timing, and then neither do the others.
    const columns = PLACE_COLUMNS.map((_, c) => batch.map((one) => one.params[c]));
    const inserted = new Set((await db.query<{ order_id: string }>(PLACE_SQL, columns)).rows.map((r) => r.order_id));
    const out: Array<PlaceOutcome | undefined> = batch.map((one) => {
      const orderId = one.params[0] as string;
      if (!inserted.delete(orderId)) return undefined;
      return { inserted: true };
    });
    const missing = batch.filter((_, i) => out[i] === undefined).map((one) => one.idempotencyKey);
    if (missing.length === 0) return out as PlaceOutcome[];
    const existing = new Map((await db.query<{ idempotency_key: string; order_id: string; fingerprint: string; status: OrderStatus }>(PLACED_SQL, [missing])).rows.map((r) => [r.idempotency_key, r]));
    return batch.map((one, i) => {
      if (out[i]) return out[i];
      const e = existing.get(one.idempotencyKey);
      if (!e) throw new Error(`order store: idempotency key '${one.idempotencyKey}' neither placed an order nor found one`);
      return { inserted: false, orderId: e.order_id, fingerprint: e.fingerprint, status: e.status };
    });
  }

  /** Runs what placing and a transition run, rolled back: PGlite compiles its WebAssembly lazily (see OrderStore.warmUp). */
  async warmUp(params: unknown[], orderId: string, transition: Transition): Promise<void> {
    await this.store.db.transaction(async (tx) => {
      await this.placeIn(tx, [{ params, idempotencyKey: params[1] as string }]);
      // A repeated key: the lookup that answers it.
      await this.placeIn(tx, [{ params, idempotencyKey: params[1] as string }]);
      await this.commitIn(tx, [{ orderId, transition }]);
      await tx.query('select * from order_events where order_id = $1 and seq >= $2 order by seq limit $3', [orderId, 1, 16]);
      await tx.query('select view from order_views where order_id = $1', [orderId]);
      // The service's other statements too (the sweep, orders.stats, a resumed saga, a failed attempt):
      // compiled lazily, each cost an order to accept up to hundreds of ms the first time it ran.
      await tx.query(SAGA_SQL, [orderId]);
      await tx.query(DUE_SQL, [Date.now(), [], 1]);
      await tx.query(COUNTS_SQL);
      await tx.query(PARKED_SQL);
      await tx.query(NOTE_ATTEMPT_SQL, [orderId, transition.to, 1, 'warm-up']);
      await tx.query(PARK_SQL, [orderId, transition.to, Date.now(), 'warm-up']);
      await tx.rollback();
    });
  }

  /**
   * One transaction for `batch` (distinct orders). Should something in it
   * fail the whole transaction, each is committed alone, so only the
   * offender fails.
   */
  async commitTransitions(batch: readonly TransitionRequest[]): Promise<TransitionOutcome[]> {
    try {
      return await this.store.db.transaction((tx) => this.commitIn(tx, batch));
    } catch (err) {
      if (batch.length === 1) return [{ error: (err as Error).message }];
      const outcomes: TransitionOutcome[] = [];
      for (const one of batch) {
        try {
          outcomes.push(...(await this.store.db.transaction((tx) => this.commitIn(tx, [one]))));
        } catch (e) {
          outcomes.push({ error: (e as Error).message });
        }
      }
      return outcomes;
    }
  }

  private async commitIn(tx: Transaction, batch: readonly TransitionRequest[]): Promise<TransitionOutcome[]> {
    const ids = batch.map((p) => p.orderId);
    const rows = (await tx.query<{ order_id: string; state: string; view: OrderView }>(
      'select s.order_id, s.state, v.view from sagas s join order_views v using (order_id) where s.order_id = any($1::text[])',
      [ids],
    )).rows;
    const current = new Map(rows.map((r) => [r.order_id, r]));
    const at = new Date().toISOString();
    const results: TransitionOutcome[] = [];
    const appended: OrderEvent[] = [];
    const changed = { ids: [] as string[], statuses: [] as string[], views: [] as string[], states: [] as string[], reasons: [] as Array<string | null> };
    for (const { orderId, transition } of batch) {
      const row = current.get(orderId);
      if (row?.state !== transition.from) {
        results.push({ error: `order ${orderId}: saga is in state ${row?.state ?? 'none'}, not ${transition.from}` });
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
      results.push({ events });
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

  async events(orderId: string, fromSeq: number, limit: number): Promise<OrderEvent[]> {
    const rows = (await this.store.db.query<EventRow>('select * from order_events where order_id = $1 and seq >= $2 order by seq limit $3', [orderId, fromSeq, limit])).rows;
    return rows.map(toEvent);
  }

  async view(orderId: string): Promise<OrderView | undefined> {
    return (await this.store.db.query<{ view: OrderView }>('select view from order_views where order_id = $1', [orderId])).rows[0]?.view;
  }

  async saga(orderId: string): Promise<SagaRow | undefined> {
    return (await this.store.db.query<SagaRow>(SAGA_SQL, [orderId])).rows[0];
  }

  async noteFailedAttempt(orderId: string, state: SagaState, attempts: number, error: string): Promise<void> {
    await this.store.db.query(NOTE_ATTEMPT_SQL, [orderId, state, attempts, error]);
  }

  async park(orderId: string, state: SagaState, retryAtMs: number, error: string): Promise<void> {
    await this.store.db.query(PARK_SQL, [orderId, state, retryAtMs, error]);
  }

  async dueSagas(running: readonly string[], limit: number, nowMs: number): Promise<string[]> {
    const rows = (await this.store.db.query<{ order_id: string }>(DUE_SQL, [nowMs, running, limit])).rows;
    return rows.map((r) => r.order_id);
  }

  async counts(): Promise<Array<{ status: OrderStatus; n: number }>> {
    return (await this.store.db.query<{ status: OrderStatus; n: number }>(COUNTS_SQL)).rows;
  }

  async parkedCount(): Promise<number> {
    return (await this.store.db.query<{ n: number }>(PARKED_SQL)).rows[0]?.n ?? 0;
  }

  async placedKeys(after: string, limit: number): Promise<string[]> {
    return (await this.store.db.query<{ k: string }>(KEYS_SQL, [after, limit])).rows.map((r) => r.k);
  }
}

type Queryable = { query<T>(sql: string, params?: unknown[]): Promise<{ rows: T[] }> };

/** One statement for all of a batch's events (each statement is a round trip into PGlite). */
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

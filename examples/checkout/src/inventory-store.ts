/**
 * The inventory service's store: stock levels per sku and one reservation
 * row per order (the order id is the idempotency key of reserve and release).
 *
 * Never oversells: a reservation checks and decrements every line inside one
 * transaction (PGlite runs transactions one at a time), and
 * `available >= 0` is a table constraint besides. A release of an order
 * inventory has never seen records a VOID tombstone, so a reserve that
 * arrives late (a retry overtaken by the compensation) is refused instead of
 * holding stock for a cancelled order.
 */
import type { Logger } from 'sluice';
import { SluiceError } from 'sluice';
import { DEMO_CATALOGUE, type CatalogueItem } from './catalogue.js';
import { openStore, type Store } from './db.js';
import type { OrderLine } from './events.js';

export type ReservationStatus = 'RESERVED' | 'REFUSED' | 'RELEASED' | 'VOID';

export type ReserveResult = { status: 'RESERVED'; items: OrderLine[] } | { status: 'UNAVAILABLE'; reason: string; sku?: string };

export interface ReleaseResult {
  /** True when stock had been reserved and is now back on the shelf (also on a repeated release). */
  readonly released: boolean;
  readonly status: ReservationStatus;
  readonly items: OrderLine[];
}

export interface ReservationRecord {
  readonly orderId: string;
  readonly status: ReservationStatus | null;
  readonly items: readonly OrderLine[];
  readonly reason: string | null;
  readonly calls: Readonly<Record<string, number>>;
}

const SCHEMA = `
create table if not exists stock (
  sku text primary key,
  available integer not null check (available >= 0)
);
create table if not exists reservations (
  order_id text primary key,
  status text not null check (status in ('RESERVED', 'REFUSED', 'RELEASED', 'VOID')),
  items json not null,
  sku text,
  reason text,
  updated_at text not null
);
create table if not exists calls (
  order_id text not null,
  route text not null,
  n integer not null,
  primary key (order_id, route)
);
`;

interface ReservationRow {
  order_id: string;
  status: ReservationStatus;
  items: OrderLine[];
  sku: string | null;
  reason: string | null;
}

export class InventoryStore {
  private constructor(private readonly store: Store) {}

  /** Opens (or creates) the store in `dir`; an empty store is stocked from `catalogue`. */
  static async open(dir: string, log: Logger, catalogue: readonly CatalogueItem[] = DEMO_CATALOGUE): Promise<InventoryStore> {
    const store = await openStore(dir, SCHEMA, log);
    try {
      await store.db.transaction(async (tx) => {
        // Only skus not stocked yet: a restart never resets stock.
        for (const item of catalogue) await tx.query('insert into stock (sku, available) values ($1, $2) on conflict (sku) do nothing', [item.sku, item.initialStock]);
      });
    } catch (err) {
      await store.close();
      throw err;
    }
    return new InventoryStore(store);
  }

  async countCall(orderId: string, route: string): Promise<void> {
    await this.store.db.query('insert into calls (order_id, route, n) values ($1, $2, 1) on conflict (order_id, route) do update set n = calls.n + 1', [orderId, route]);
  }

  /** Reserves every line or none, once per order; later calls answer what the first decided. */
  reserve(orderId: string, items: readonly OrderLine[]): Promise<ReserveResult> {
    return this.store.db.transaction(async (tx) => {
      const existing = (await tx.query<ReservationRow>('select * from reservations where order_id = $1', [orderId])).rows[0];
      if (existing) return reserveAnswer(existing);
      const now = new Date().toISOString();
      for (const line of items) {
        const row = (await tx.query<{ available: number }>('select available from stock where sku = $1', [line.sku])).rows[0];
        if (!row) throw new SluiceError('INVALID_ARGUMENT', `sku '${line.sku}' is not stocked`);
        if (row.available < line.qty) {
          const reason = `${line.sku}: ${row.available} available, ${line.qty} requested`;
          await tx.query("insert into reservations values ($1, 'REFUSED', $2, $3, $4, $5)", [orderId, JSON.stringify(items), line.sku, reason, now]);
          return { status: 'UNAVAILABLE', reason, sku: line.sku };
        }
      }
      for (const line of items) await tx.query('update stock set available = available - $2 where sku = $1', [line.sku, line.qty]);
      await tx.query("insert into reservations values ($1, 'RESERVED', $2, null, null, $3)", [orderId, JSON.stringify(items), now]);
      return { status: 'RESERVED', items: [...items] };
    });
  }

  /** Puts a reservation's stock back once; on an order never reserved, voids it so a late reserve is refused. */
  release(orderId: string): Promise<ReleaseResult> {
    return this.store.db.transaction(async (tx) => {
      const now = new Date().toISOString();
      const existing = (await tx.query<ReservationRow>('select * from reservations where order_id = $1', [orderId])).rows[0];
      if (!existing) {
        await tx.query("insert into reservations values ($1, 'VOID', '[]', null, 'released before any reservation', $2)", [orderId, now]);
        return { released: false, status: 'VOID', items: [] };
      }
      if (existing.status === 'RESERVED') {
        for (const line of existing.items) await tx.query('update stock set available = available + $2 where sku = $1', [line.sku, line.qty]);
        await tx.query("update reservations set status = 'RELEASED', updated_at = $2 where order_id = $1", [orderId, now]);
        return { released: true, status: 'RELEASED', items: existing.items };
      }
      if (existing.status === 'RELEASED') return { released: true, status: 'RELEASED', items: existing.items };
      return { released: false, status: existing.status, items: [] };
    });
  }

  async stock(): Promise<{ sku: string; available: number }[]> {
    return (await this.store.db.query<{ sku: string; available: number }>('select sku, available from stock order by sku')).rows;
  }

  async get(orderId: string): Promise<ReservationRecord> {
    const db = this.store.db;
    const row = (await db.query<ReservationRow>('select * from reservations where order_id = $1', [orderId])).rows[0];
    const calls = (await db.query<{ route: string; n: number }>('select route, n from calls where order_id = $1', [orderId])).rows;
    return {
      orderId,
      status: row?.status ?? null,
      items: row?.items ?? [],
      reason: row?.reason ?? null,
      calls: Object.fromEntries(calls.map((c) => [c.route, c.n])),
    };
  }

  close(): Promise<void> {
    return this.store.close();
  }
}

function reserveAnswer(row: ReservationRow): ReserveResult {
  switch (row.status) {
    case 'RESERVED':
      return { status: 'RESERVED', items: row.items };
    case 'REFUSED':
      return row.sku === null ? { status: 'UNAVAILABLE', reason: row.reason ?? 'unavailable' } : { status: 'UNAVAILABLE', reason: row.reason ?? 'unavailable', sku: row.sku };
    case 'RELEASED':
      return { status: 'UNAVAILABLE', reason: 'the reservation was already released' };
    case 'VOID':
      return { status: 'UNAVAILABLE', reason: 'the order was voided before stock was reserved' };
  }
}

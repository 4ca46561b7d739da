/**
 * The payment service's store. One payment row per order (the order id is
 * the idempotency key of every payment operation) and an append-only ledger
 * of money movements with at most one CHARGE and one REFUND per order, by
 * constraint: a retried authorize can never charge twice, a retried refund
 * never refunds twice.
 *
 * A refund of an order payment has never seen records a VOIDED tombstone, so
 * an authorize that arrives late (a retry overtaken by the compensation)
 * is declined instead of charging a cancelled order.
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from 'sluice';
import { openStore, type Store } from './db.js';

export type PaymentStatus = 'AUTHORIZED' | 'DECLINED' | 'VOIDED' | 'REFUNDED';

export type AuthorizeResult = { status: 'AUTHORIZED'; paymentId: string; amountCents: number } | { status: 'DECLINED'; reason: string };

export interface RefundResult {
  /** True when money had been charged and is now refunded (also on a repeated refund). */
  readonly refunded: boolean;
  readonly status: PaymentStatus;
  readonly paymentId?: string;
  readonly amountCents?: number;
}

export interface PaymentRecord {
  readonly orderId: string;
  /** null when payment has never seen this order. */
  readonly status: PaymentStatus | null;
  readonly paymentId: string | null;
  readonly amountCents: number | null;
  readonly reason: string | null;
  readonly ledger: readonly { kind: 'CHARGE' | 'REFUND'; amountCents: number; at: string }[];
  /** Calls received per route for this order, failed ones included: evidence of retries. */
  readonly calls: Readonly<Record<string, number>>;
}

const SCHEMA = `
create table if not exists payments (
  order_id text primary key,
  payment_id text not null unique,
  amount_cents integer not null check (amount_cents >= 0),
  status text not null check (status in ('AUTHORIZED', 'DECLINED', 'VOIDED', 'REFUNDED')),
  reason text,
  created_at text not null,
  updated_at text not null
);
create table if not exists ledger (
  id serial primary key,
  order_id text not null references payments (order_id),
  kind text not null check (kind in ('CHARGE', 'REFUND')),
  amount_cents integer not null,
  at text not null,
  unique (order_id, kind)
);
create table if not exists calls (
  order_id text not null,
  route text not null,
  n integer not null,
  primary key (order_id, route)
);
`;

interface PaymentRow {
  order_id: string;
  payment_id: string;
  amount_cents: number;
  status: PaymentStatus;
  reason: string | null;
}

export class PaymentStore {
  private constructor(private readonly store: Store) {}

  /** Opens (or creates) the store in `dir`. */
  static async open(dir: string, log: Logger): Promise<PaymentStore> {
    return new PaymentStore(await openStore(dir, SCHEMA, log));
  }

  /** Counts a call before anything else happens (even a simulated failure). */
  async countCall(orderId: string, route: string): Promise<void> {
    await this.store.db.query('insert into calls (order_id, route, n) values ($1, $2, 1) on conflict (order_id, route) do update set n = calls.n + 1', [orderId, route]);
  }

  /** Charges `amountCents` once per order; any later call answers what the first decided. */
  authorize(orderId: string, amountCents: number, maxAmountCents: number): Promise<AuthorizeResult> {
    return this.store.db.transaction(async (tx) => {
      const existing = (await tx.query<PaymentRow>('select * from payments where order_id = $1', [orderId])).rows[0];
      if (existing) return authorizeAnswer(existing);
      const now = new Date().toISOString();
      const paymentId = `pay_${randomUUID()}`;
      if (amountCents > maxAmountCents) {
        const reason = `amount ${amountCents} cents is over the limit of ${maxAmountCents}`;
        await tx.query("insert into payments values ($1, $2, $3, 'DECLINED', $4, $5, $5)", [orderId, paymentId, amountCents, reason, now]);
        return { status: 'DECLINED', reason };
      }
      await tx.query("insert into payments values ($1, $2, $3, 'AUTHORIZED', null, $4, $4)", [orderId, paymentId, amountCents, now]);
      await tx.query("insert into ledger (order_id, kind, amount_cents, at) values ($1, 'CHARGE', $2, $3)", [orderId, amountCents, now]);
      return { status: 'AUTHORIZED', paymentId, amountCents };
    });
  }

  /** Refunds the order's charge once; on an order never charged, voids it so a late authorize is declined. */
  refund(orderId: string): Promise<RefundResult> {
    return this.store.db.transaction(async (tx) => {
      const now = new Date().toISOString();
      const existing = (await tx.query<PaymentRow>('select * from payments where order_id = $1', [orderId])).rows[0];
      if (!existing) {
        await tx.query("insert into payments values ($1, $2, 0, 'VOIDED', 'refunded before any authorization', $3, $3)", [orderId, `pay_${randomUUID()}`, now]);
        return { refunded: false, status: 'VOIDED' };
      }
      if (existing.status === 'AUTHORIZED') {
        await tx.query("update payments set status = 'REFUNDED', updated_at = $2 where order_id = $1", [orderId, now]);
        await tx.query("insert into ledger (order_id, kind, amount_cents, at) values ($1, 'REFUND', $2, $3)", [orderId, -existing.amount_cents, now]);
        return { refunded: true, status: 'REFUNDED', paymentId: existing.payment_id, amountCents: existing.amount_cents };
      }
      if (existing.status === 'REFUNDED') return { refunded: true, status: 'REFUNDED', paymentId: existing.payment_id, amountCents: existing.amount_cents };
      return { refunded: false, status: existing.status };
    });
  }

  async get(orderId: string): Promise<PaymentRecord> {
    const db = this.store.db;
    const row = (await db.query<PaymentRow>('select * from payments where order_id = $1', [orderId])).rows[0];
    const ledger = (await db.query<{ kind: 'CHARGE' | 'REFUND'; amount_cents: number; at: string }>('select kind, amount_cents, at from ledger where order_id = $1 order by id', [orderId])).rows;
    const calls = (await db.query<{ route: string; n: number }>('select route, n from calls where order_id = $1', [orderId])).rows;
    return {
      orderId,
      status: row?.status ?? null,
      paymentId: row?.payment_id ?? null,
      amountCents: row?.amount_cents ?? null,
      reason: row?.reason ?? null,
      ledger: ledger.map((l) => ({ kind: l.kind, amountCents: l.amount_cents, at: l.at })),
      calls: Object.fromEntries(calls.map((c) => [c.route, c.n])),
    };
  }

  close(): Promise<void> {
    return this.store.close();
  }
}

function authorizeAnswer(row: PaymentRow): AuthorizeResult {
  switch (row.status) {
    case 'AUTHORIZED':
      return { status: 'AUTHORIZED', paymentId: row.payment_id, amountCents: row.amount_cents };
    case 'DECLINED':
      return { status: 'DECLINED', reason: row.reason ?? 'declined' };
    case 'VOIDED':
      return { status: 'DECLINED', reason: 'the order was voided before it was authorized' };
    case 'REFUNDED':
      return { status: 'DECLINED', reason: 'the order was already refunded' };
  }
}

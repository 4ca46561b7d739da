/**
 * The payment and inventory stores on real PGlite under concurrent calls:
 * the invariants the saga's idempotency rests on, without the network.
 */
import { cp, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InventoryStore } from '../../src/inventory-store.js';
import { PaymentStore } from '../../src/payment-store.js';
import { silentLogger } from 'sluice';
import { pgliteTemplate } from '../helpers/checkout.js';

let dir: string;
let inventory: InventoryStore;
let payment: PaymentStore;
let reserved: string[] = [];

beforeAll(async () => {
  const template = await pgliteTemplate();
  dir = await mkdtemp(join(tmpdir(), 'sluice-stores-'));
  await cp(template, join(dir, 'inventory'), { recursive: true });
  await cp(template, join(dir, 'payment'), { recursive: true });
  inventory = await InventoryStore.open(join(dir, 'inventory'), silentLogger, [
    { sku: 'T1', name: 'test item', priceCents: 100, initialStock: 100 },
    { sku: 'T2', name: 'other item', priceCents: 100, initialStock: 5 },
  ]);
  payment = await PaymentStore.open(join(dir, 'payment'), silentLogger);
}, 60_000);

afterAll(async () => {
  await inventory?.close();
  await payment?.close();
  await rm(dir, { recursive: true, force: true });
});

const available = async (sku: string) => (await inventory.stock()).find((s) => s.sku === sku)!.available;

describe('inventory store', () => {
  it('never oversells under concurrent reservations', async () => {
    // 60 orders of 7 against 100 units: exactly 14 fit.
    const results = await Promise.all(Array.from({ length: 60 }, (_, i) => inventory.reserve(`o-${i}`, [{ sku: 'T1', qty: 7 }])));
    reserved = results.flatMap((r, i) => (r.status === 'RESERVED' ? [`o-${i}`] : []));
    expect(reserved).toHaveLength(14);
    expect(await available('T1')).toBe(2);
  });

  it('reserves all lines or none, and repeats its first answer', async () => {
    const refused = await inventory.reserve('multi-1', [{ sku: 'T1', qty: 1 }, { sku: 'T2', qty: 6 }]);
    expect(refused).toEqual({ status: 'UNAVAILABLE', reason: 'T2: 5 available, 6 requested', sku: 'T2' });
    expect(await available('T1')).toBe(2);
    // Stock came back meanwhile: the order's answer does not change.
    await inventory.release(reserved[0]!);
    expect(await inventory.reserve('multi-1', [{ sku: 'T1', qty: 1 }])).toEqual(refused);
  });

  it('releases once; a release before any reservation voids the order', async () => {
    const before = await available('T1');
    const twice = await Promise.all([inventory.release(reserved[1]!), inventory.release(reserved[1]!)]);
    expect(twice.map((r) => r.released)).toEqual([true, true]);
    expect(await available('T1')).toBe(before + 7);
    expect(await inventory.release('never-reserved')).toMatchObject({ released: false, status: 'VOID' });
    expect(await inventory.reserve('never-reserved', [{ sku: 'T1', qty: 1 }])).toMatchObject({ status: 'UNAVAILABLE' });
    expect(await available('T1')).toBe(before + 7);
  });
});

describe('payment store', () => {
  it('charges once for concurrent authorizations of one order', async () => {
    const answers = await Promise.all(Array.from({ length: 20 }, () => payment.authorize('p-1', 4900, 1_000_000)));
    expect(new Set(answers.map((a) => JSON.stringify(a))).size).toBe(1);
    expect(answers[0]).toMatchObject({ status: 'AUTHORIZED', amountCents: 4900 });
    expect((await payment.get('p-1')).ledger.map((l) => l.kind)).toEqual(['CHARGE']);
  });

  it('refunds once for concurrent refunds, and a refunded order cannot be charged again', async () => {
    const refunds = await Promise.all(Array.from({ length: 10 }, () => payment.refund('p-1')));
    expect(refunds.every((r) => r.refunded && r.amountCents === 4900)).toBe(true);
    expect(await payment.authorize('p-1', 4900, 1_000_000)).toMatchObject({ status: 'DECLINED' });
    expect((await payment.get('p-1')).ledger.map((l) => [l.kind, l.amountCents])).toEqual([['CHARGE', 4900], ['REFUND', -4900]]);
  });

  it('a refund that overtakes its authorize voids the order: the late authorize is declined, nothing charged', async () => {
    expect(await payment.refund('p-2')).toEqual({ refunded: false, status: 'VOIDED' });
    expect(await payment.authorize('p-2', 100, 1_000_000)).toMatchObject({ status: 'DECLINED' });
    expect((await payment.get('p-2')).ledger).toEqual([]);
  });

  it('declines over the limit and remembers the decline', async () => {
    expect(await payment.authorize('p-3', 2_000, 1_000)).toMatchObject({ status: 'DECLINED', reason: expect.stringContaining('over the limit') });
    expect(await payment.authorize('p-3', 2_000, 1_000_000)).toMatchObject({ status: 'DECLINED' });
  });
});

/**
 * TEST-ONLY stand-in for the checkout services (issue 3), implementing exactly
 * the two routes the dashboard's checkout panel uses, per their contract:
 *
 * - `checkout.place` `{idempotencyKey, customerId, items: [{sku, qty}]}` -> `{orderId, status: "PENDING"}`
 * - `orders.watch` `{orderId}` -> events `{type, orderId, seq, at, ...}` ending with `OrderConfirmed`
 *   (or `OrderCancelled` for an unknown SKU)
 *
 * To be replaced by the real checkout services once they are on main.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { SluiceError } from '../../src/errors.js';
import type { RouteTable } from '../../src/service/handlers.js';

const SKUS = new Set(['A1', 'B2', 'C3']);

export function checkoutStubRoutes(): RouteTable {
  const orders = new Map<string, { sku: string; qty: number }>();
  const byKey = new Map<string, string>();
  let next = 1;
  return {
    'checkout.place': {
      idempotent: true,
      requestResponse(data: { idempotencyKey?: unknown; customerId?: unknown; items?: Array<{ sku?: unknown; qty?: unknown }> }) {
        if (typeof data?.idempotencyKey !== 'string' || typeof data.customerId !== 'string' || !Array.isArray(data.items) || data.items.length === 0) {
          throw new SluiceError('INVALID_ARGUMENT', 'expected {idempotencyKey, customerId, items: [{sku, qty}]}');
        }
        const item = data.items[0]!;
        if (typeof item.sku !== 'string' || typeof item.qty !== 'number') throw new SluiceError('INVALID_ARGUMENT', "'items' entries are {sku, qty}");
        let orderId = byKey.get(data.idempotencyKey);
        if (!orderId) {
          orderId = `ord-${next++}`;
          byKey.set(data.idempotencyKey, orderId);
          orders.set(orderId, { sku: item.sku, qty: item.qty });
        }
        return { orderId, status: 'PENDING' };
      },
    },
    'orders.watch': {
      requestStream(data: { orderId?: unknown }) {
        const orderId = typeof data?.orderId === 'string' ? data.orderId : '';
        const order = orders.get(orderId);
        if (!order) throw new SluiceError('INVALID_ARGUMENT', `no order '${orderId}'`);
        const ok = SKUS.has(order.sku);
        const types = ok ? ['OrderPlaced', 'PaymentAuthorized', 'InventoryReserved', 'OrderConfirmed'] : ['OrderPlaced', 'OrderCancelled'];
        return (async function* () {
          for (const [seq, type] of types.entries()) {
            await sleep(30);
            yield { type, orderId, seq, at: new Date().toISOString(), ...(type === 'OrderPlaced' ? { items: [order] } : {}) };
          }
        })();
      },
    },
  };
}

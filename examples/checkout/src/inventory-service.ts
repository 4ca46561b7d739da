/**
 * The inventory service: stock levels and per-order reservations (see
 * inventory-store.ts).
 *
 * - `inventory.stock` `{}` -> `{items: [{sku, available}]}` (public)
 * - `inventory.reserve` `{orderId, items}` -> `{status: "RESERVED", items}` or `{status: "UNAVAILABLE", reason, sku?}` (internal)
 * - `inventory.release` `{orderId}` -> `{released, status, items}` (internal)
 * - `inventory.get` `{orderId}` -> the order's reservation and the calls received (for operators and tests)
 */
import type { RouteTable } from 'sluice';
import { createChaos } from './chaos.js';
import { resolveInventoryOptions, type InventoryOptions } from './config.js';
import { InventoryStore } from './inventory-store.js';
import { serveStore, type CheckoutServiceOptions, type RunningService } from './service-host.js';
import { idField, parseEmpty, parseLines, parseObject, parseOrderRef } from './validation.js';

/** The routes the inventory service registers. */
export const INVENTORY_ROUTES = ['inventory.stock', 'inventory.reserve', 'inventory.release', 'inventory.get'] as const;

/** The inventory routes over a store; `random` drives the failure knob. */
export function inventoryRoutes(store: InventoryStore, options: InventoryOptions, random?: () => number): RouteTable {
  const chaos = createChaos(options, random);
  return {
    'inventory.stock': {
      idempotent: true,
      async requestResponse(data: unknown) {
        parseEmpty(data, 'inventory.stock');
        return { items: await store.stock() };
      },
    },
    'inventory.reserve': {
      idempotent: true,
      async requestResponse(data: unknown, ctx) {
        const obj = parseObject(data, 'inventory.reserve', ['orderId', 'items']);
        const orderId = idField(obj, 'orderId');
        const items = parseLines(obj.items);
        await store.countCall(orderId, 'inventory.reserve');
        chaos.maybeFail('inventory.reserve');
        const result = await store.reserve(orderId, items);
        ctx.log.debug({ orderId, status: result.status }, 'reserve');
        await chaos.delay(ctx.signal);
        return result;
      },
    },
    'inventory.release': {
      idempotent: true,
      async requestResponse(data: unknown, ctx) {
        const { orderId } = parseOrderRef(data, 'inventory.release');
        await store.countCall(orderId, 'inventory.release');
        chaos.maybeFail('inventory.release');
        const result = await store.release(orderId);
        ctx.log.debug({ orderId, released: result.released }, 'release');
        await chaos.delay(ctx.signal);
        return result;
      },
    },
    'inventory.get': {
      idempotent: true,
      requestResponse: (data: unknown) => store.get(parseOrderRef(data, 'inventory.get').orderId),
    },
  };
}

/** Opens the inventory store in `<dataDir>/inventory` and serves the inventory routes until closed. */
export async function startInventoryService(options: CheckoutServiceOptions & { inventory?: Partial<InventoryOptions> }): Promise<RunningService> {
  const resolved = resolveInventoryOptions(options.inventory);
  return serveStore(options, 'inventory', (dir, log) => InventoryStore.open(dir, log), (store) => inventoryRoutes(store, resolved), resolved);
}

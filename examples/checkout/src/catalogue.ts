/**
 * The demo catalogue: what can be ordered, at what price, and the stock the
 * inventory service starts with on its first run (an empty data dir). The
 * order service validates skus and prices carts from it; the inventory
 * service seeds its own store from it. It is code shared by both, not state:
 * after seeding, stock lives only in the inventory service's store.
 */

export interface CatalogueItem {
  readonly sku: string;
  readonly name: string;
  /** Unit price in cents. */
  readonly priceCents: number;
  /** Units the inventory service holds on its first start. */
  readonly initialStock: number;
}

/**
 * A few skus with plenty of stock, and `Z9` with none: ordering it shows the
 * compensation path (payment authorized, stock unavailable, payment refunded).
 */
export const DEMO_CATALOGUE: readonly CatalogueItem[] = [
  { sku: 'A1', name: 'Espresso beans 1 kg', priceCents: 2_450, initialStock: 100_000 },
  { sku: 'B2', name: 'Burr grinder', priceCents: 12_900, initialStock: 10_000 },
  { sku: 'C3', name: 'Milk jug', priceCents: 1_590, initialStock: 5_000 },
  { sku: 'D4', name: 'Tamper', priceCents: 2_990, initialStock: 1_000 },
  { sku: 'Z9', name: 'Limited-edition kettle (sold out)', priceCents: 8_900, initialStock: 0 },
];

const bySku = new Map(DEMO_CATALOGUE.map((i) => [i.sku, i]));

/** The catalogue entry for `sku`, or undefined. */
export function catalogueItem(sku: string): CatalogueItem | undefined {
  return bySku.get(sku);
}

/** Total price of a validated cart, in cents. */
export function cartAmountCents(items: readonly { sku: string; qty: number }[]): number {
  let total = 0;
  for (const { sku, qty } of items) {
    const item = bySku.get(sku);
    if (!item) throw new Error(`sku '${sku}' is not in the catalogue`);
    total += item.priceCents * qty;
  }
  return total;
}

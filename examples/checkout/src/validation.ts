/**
 * Validation of checkout input at the edge: every public and internal route
 * parses its data here before anything is recorded. A failure is an
 * INVALID_ARGUMENT SluiceError whose message names the field, e.g.
 * `'items[0].qty' must be a positive integer`.
 */
import { SluiceError } from 'sluice';
import { catalogueItem } from './catalogue.js';
import type { OrderLine } from './events.js';

/** Most lines in one cart; more is an oversized cart. */
export const MAX_CART_LINES = 50;
/** Most units of one sku in one cart. */
export const MAX_LINE_QTY = 1_000;
/** Longest idempotency key, customer id and order id, in characters. */
export const MAX_ID_LENGTH = 128;

export interface PlaceCommand {
  readonly idempotencyKey: string;
  readonly customerId: string;
  /** Distinct known skus, each 1..MAX_LINE_QTY units. */
  readonly items: readonly OrderLine[];
}

const PLACE_FIELDS = ['idempotencyKey', 'customerId', 'items'];
const LINE_FIELDS = ['sku', 'qty'];

function invalid(message: string): SluiceError {
  return new SluiceError('INVALID_ARGUMENT', message);
}

function object(data: unknown, what: string): Record<string, unknown> {
  if (typeof data !== 'object' || data === null || Array.isArray(data)) throw invalid(`${what} must be a JSON object`);
  return data as Record<string, unknown>;
}

function noExtraFields(obj: Record<string, unknown>, allowed: readonly string[], where: string): void {
  for (const key of Object.keys(obj)) {
    if (!allowed.includes(key)) throw invalid(`'${where}${key}' is not a known field (allowed: ${allowed.join(', ')})`);
  }
}

/** A required id-like string: 1..MAX_ID_LENGTH characters, no control characters. */
export function idField(obj: Record<string, unknown>, key: string, where = ''): string {
  const value = obj[key];
  const name = `'${where}${key}'`;
  if (value === undefined) throw invalid(`${name} is required`);
  if (typeof value !== 'string') throw invalid(`${name} must be a string`);
  if (value.length === 0 || value.length > MAX_ID_LENGTH) throw invalid(`${name} must be 1 to ${MAX_ID_LENGTH} characters, got ${value.length}`);
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(value)) throw invalid(`${name} must not contain control characters`);
  return value;
}

/** Cart lines: 1..MAX_CART_LINES distinct skus from the catalogue, each 1..MAX_LINE_QTY units. */
export function parseLines(value: unknown, field = 'items'): OrderLine[] {
  if (value === undefined) throw invalid(`'${field}' is required`);
  if (!Array.isArray(value)) throw invalid(`'${field}' must be an array of {"sku", "qty"}`);
  if (value.length === 0) throw invalid(`'${field}' must not be empty`);
  if (value.length > MAX_CART_LINES) throw invalid(`'${field}' has ${value.length} lines; a cart holds at most ${MAX_CART_LINES}`);
  const seen = new Set<string>();
  return value.map((raw, i) => {
    const where = `${field}[${i}]`;
    const line = object(raw, `'${where}'`);
    noExtraFields(line, LINE_FIELDS, `${where}.`);
    const sku = line.sku;
    if (sku === undefined) throw invalid(`'${where}.sku' is required`);
    if (typeof sku !== 'string' || sku.length === 0) throw invalid(`'${where}.sku' must be a non-empty string`);
    if (!catalogueItem(sku)) throw invalid(`'${where}.sku' '${sku.slice(0, MAX_ID_LENGTH)}' is not in the catalogue`);
    if (seen.has(sku)) throw invalid(`'${where}.sku' '${sku}' appears twice; put the total in one line`);
    seen.add(sku);
    const qty = line.qty;
    if (qty === undefined) throw invalid(`'${where}.qty' is required`);
    if (typeof qty !== 'number' || !Number.isInteger(qty) || qty < 1) throw invalid(`'${where}.qty' must be a positive integer`);
    if (qty > MAX_LINE_QTY) throw invalid(`'${where}.qty' must be at most ${MAX_LINE_QTY}, got ${qty}`);
    return { sku, qty };
  });
}

/** `checkout.place` data (and each `checkout.submit` command). */
export function parsePlaceCommand(data: unknown): PlaceCommand {
  const obj = object(data, 'the place command');
  noExtraFields(obj, PLACE_FIELDS, '');
  return {
    idempotencyKey: idField(obj, 'idempotencyKey'),
    customerId: idField(obj, 'customerId'),
    items: parseLines(obj.items),
  };
}

/** `{"orderId"}`: orders.get, orders.watch and the internal routes' lookups. */
export function parseOrderRef(data: unknown, route: string): { orderId: string } {
  const obj = object(data, `${route} data`);
  noExtraFields(obj, ['orderId'], '');
  return { orderId: idField(obj, 'orderId') };
}

/** `{}` (or no data at all): routes that take no arguments. */
export function parseEmpty(data: unknown, route: string): void {
  if (data === undefined) return;
  noExtraFields(object(data, `${route} data`), [], '');
}

/** Internal routes: `{"orderId", ...}` plus the named fields, validated by the caller. */
export function parseObject(data: unknown, route: string, allowed: readonly string[]): Record<string, unknown> {
  const obj = object(data, `${route} data`);
  noExtraFields(obj, allowed, '');
  return obj;
}

/** A required non-negative safe integer field (amounts in cents). */
export function amountField(obj: Record<string, unknown>, key: string): number {
  const value = obj[key];
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) throw invalid(`'${key}' must be a non-negative integer (cents)`);
  return value;
}

/**
 * A stable fingerprint of a command's content (not its key): a reused
 * idempotency key with different content is refused instead of silently
 * answering with another cart's order.
 */
export function commandFingerprint(cmd: PlaceCommand): string {
  const items = [...cmd.items].sort((a, b) => (a.sku < b.sku ? -1 : a.sku > b.sku ? 1 : 0));
  return JSON.stringify({ customerId: cmd.customerId, items: items.map((i) => [i.sku, i.qty]) });
}

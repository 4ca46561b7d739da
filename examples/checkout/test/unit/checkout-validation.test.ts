import { describe, expect, it } from 'vitest';
import { SluiceError } from 'sluice';
import { MAX_CART_LINES, MAX_ID_LENGTH, MAX_LINE_QTY, commandFingerprint, parseOrderRef, parsePlaceCommand } from '../../src/validation.js';

const valid = { idempotencyKey: 'k-1', customerId: 'c-1', items: [{ sku: 'A1', qty: 2 }] };

function refusal(data: unknown): SluiceError {
  try {
    parsePlaceCommand(data);
  } catch (err) {
    expect(err).toBeInstanceOf(SluiceError);
    expect((err as SluiceError).code).toBe('INVALID_ARGUMENT');
    return err as SluiceError;
  }
  throw new Error(`accepted ${JSON.stringify(data)}`);
}

describe('checkout.place validation', () => {
  it('accepts a valid command and keeps only known fields', () => {
    expect(parsePlaceCommand(valid)).toEqual(valid);
  });

  it.each([
    ['no data', undefined, 'must be a JSON object'],
    ['an array', [valid], 'must be a JSON object'],
    ['a string', 'order please', 'must be a JSON object'],
    ['missing idempotencyKey', { ...valid, idempotencyKey: undefined }, "'idempotencyKey' is required"],
    ['numeric idempotencyKey', { ...valid, idempotencyKey: 7 }, "'idempotencyKey' must be a string"],
    ['empty idempotencyKey', { ...valid, idempotencyKey: '' }, "'idempotencyKey' must be 1 to 128 characters"],
    ['overlong customerId', { ...valid, customerId: 'x'.repeat(MAX_ID_LENGTH + 1) }, "'customerId' must be 1 to 128 characters, got 129"],
    ['control characters', { ...valid, customerId: 'a\nb' }, "'customerId' must not contain control characters"],
    ['missing customerId', { idempotencyKey: 'k', items: valid.items }, "'customerId' is required"],
    ['missing items', { idempotencyKey: 'k', customerId: 'c' }, "'items' is required"],
    ['items not an array', { ...valid, items: { sku: 'A1', qty: 1 } }, "'items' must be an array"],
    ['empty cart', { ...valid, items: [] }, "'items' must not be empty"],
    ['line not an object', { ...valid, items: ['A1'] }, "'items[0]' must be a JSON object"],
    ['missing sku', { ...valid, items: [{ qty: 1 }] }, "'items[0].sku' is required"],
    ['unknown sku', { ...valid, items: [{ sku: 'A1', qty: 1 }, { sku: 'NOPE', qty: 1 }] }, "'items[1].sku' 'NOPE' is not in the catalogue"],
    ['duplicate sku', { ...valid, items: [{ sku: 'A1', qty: 1 }, { sku: 'A1', qty: 1 }] }, "'items[1].sku' 'A1' appears twice"],
    ['negative qty', { ...valid, items: [{ sku: 'A1', qty: -2 }] }, "'items[0].qty' must be a positive integer"],
    ['zero qty', { ...valid, items: [{ sku: 'A1', qty: 0 }] }, "'items[0].qty' must be a positive integer"],
    ['fractional qty', { ...valid, items: [{ sku: 'A1', qty: 1.5 }] }, "'items[0].qty' must be a positive integer"],
    ['string qty', { ...valid, items: [{ sku: 'A1', qty: '2' }] }, "'items[0].qty' must be a positive integer"],
    ['missing qty', { ...valid, items: [{ sku: 'A1' }] }, "'items[0].qty' is required"],
    ['huge qty', { ...valid, items: [{ sku: 'A1', qty: MAX_LINE_QTY + 1 }] }, "'items[0].qty' must be at most 1000, got 1001"],
    ['unknown field', { ...valid, idempotency_key: 'k' }, "'idempotency_key' is not a known field"],
    ['unknown line field', { ...valid, items: [{ sku: 'A1', qty: 1, price: 0 }] }, "'items[0].price' is not a known field"],
  ])('refuses %s, naming the problem', (_name, data, message) => {
    expect(refusal(data).message).toContain(message);
  });

  it('refuses an oversized cart, naming the limit', () => {
    const items = Array.from({ length: MAX_CART_LINES + 1 }, (_, i) => ({ sku: `S${i}`, qty: 1 }));
    expect(refusal({ ...valid, items }).message).toBe(`'items' has ${MAX_CART_LINES + 1} lines; a cart holds at most ${MAX_CART_LINES}`);
  });

  it('fingerprints content, not key or line order', () => {
    const a = parsePlaceCommand({ ...valid, items: [{ sku: 'A1', qty: 1 }, { sku: 'B2', qty: 3 }] });
    const b = parsePlaceCommand({ ...valid, idempotencyKey: 'other', items: [{ sku: 'B2', qty: 3 }, { sku: 'A1', qty: 1 }] });
    const c = parsePlaceCommand({ ...valid, items: [{ sku: 'A1', qty: 2 }, { sku: 'B2', qty: 3 }] });
    expect(commandFingerprint(a)).toBe(commandFingerprint(b));
    expect(commandFingerprint(a)).not.toBe(commandFingerprint(c));
  });

  it('parses order references', () => {
    expect(parseOrderRef({ orderId: 'ord_1' }, 'orders.get')).toEqual({ orderId: 'ord_1' });
    expect(() => parseOrderRef({}, 'orders.get')).toThrow("'orderId' is required");
    expect(() => parseOrderRef(null, 'orders.get')).toThrow('orders.get data must be a JSON object');
  });
});

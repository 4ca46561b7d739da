import { describe, expect, it } from 'vitest';
import { advance, isCompensation, stepFor, SagaTransitionError, type Saga, type SagaState, type StepOutcome } from '../../src/saga.js';
import { interpret } from '../../src/saga-runner.js';

const saga = (state: SagaState, reason: string | null = null): Saga => ({ orderId: 'ord_1', state, attempts: 0, reason, items: [{ sku: 'A1', qty: 2 }], amountCents: 4900 });
const types = (events: readonly { type: string }[]) => events.map((e) => e.type);

describe('checkout saga transitions', () => {
  it('happy path: authorize, reserve, confirm', () => {
    const a = advance(saga('AUTHORIZING'), { kind: 'authorized', paymentId: 'pay_1', amountCents: 4900 });
    expect(a.to).toBe('RESERVING');
    expect(a.events).toEqual([{ type: 'PaymentAuthorized', paymentId: 'pay_1', amountCents: 4900 }]);
    const r = advance(saga('RESERVING'), { kind: 'reserved' });
    expect(r.to).toBe('CONFIRMED');
    expect(r.events).toEqual([{ type: 'StockReserved', items: [{ sku: 'A1', qty: 2 }] }, { type: 'OrderConfirmed' }]);
  });

  it('a declined payment cancels at once: nothing was charged, nothing to compensate', () => {
    const t = advance(saga('AUTHORIZING'), { kind: 'declined', reason: 'over the limit' });
    expect(t.to).toBe('CANCELLED');
    expect(types(t.events)).toEqual(['PaymentFailed', 'OrderCancelled']);
    expect(t.reason).toBe('payment declined: over the limit');
  });

  it('an authorize that gave up is compensated: the charge may have happened', () => {
    const t = advance(saga('AUTHORIZING'), { kind: 'gave-up', reason: 'timeouts' });
    expect(t.to).toBe('REFUNDING');
    expect(types(t.events)).toEqual(['PaymentFailed']);
  });

  it('stock unavailable refunds the payment, then cancels', () => {
    const u = advance(saga('RESERVING'), { kind: 'unavailable', reason: 'Z9: 0 available', sku: 'Z9' });
    expect(u.to).toBe('REFUNDING');
    expect(u.events).toEqual([{ type: 'StockUnavailable', reason: 'Z9: 0 available', sku: 'Z9' }]);
    const r = advance(saga('REFUNDING', u.reason), { kind: 'refunded', refunded: true, paymentId: 'pay_1', amountCents: 4900 });
    expect(r.to).toBe('CANCELLED');
    expect(r.events).toEqual([
      { type: 'PaymentRefunded', paymentId: 'pay_1', amountCents: 4900 },
      { type: 'OrderCancelled', reason: 'stock unavailable: Z9: 0 available' },
    ]);
  });

  it('a reserve that gave up releases stock before refunding', () => {
    const g = advance(saga('RESERVING'), { kind: 'gave-up', reason: 'timeouts' });
    expect(g.to).toBe('RELEASING');
    const released = advance(saga('RELEASING', g.reason), { kind: 'released', released: true, items: [{ sku: 'A1', qty: 2 }] });
    expect(released.to).toBe('REFUNDING');
    expect(types(released.events)).toEqual(['StockReleased']);
    // Nothing had been reserved (the release voided it): no event, still on to the refund.
    const voided = advance(saga('RELEASING', g.reason), { kind: 'released', released: false, items: [] });
    expect(voided.to).toBe('REFUNDING');
    expect(voided.events).toEqual([]);
  });

  it('a refund that found no charge cancels without PaymentRefunded', () => {
    const t = advance(saga('REFUNDING', 'payment failed: x'), { kind: 'refunded', refunded: false });
    expect(types(t.events)).toEqual(['OrderCancelled']);
  });

  it('refuses outcomes a state cannot have, and terminal states have no step', () => {
    const impossible: Array<[SagaState, StepOutcome]> = [
      ['AUTHORIZING', { kind: 'reserved' }],
      ['RESERVING', { kind: 'authorized', paymentId: 'p', amountCents: 1 }],
      ['RELEASING', { kind: 'gave-up', reason: 'x' }],
      ['REFUNDING', { kind: 'gave-up', reason: 'x' }],
      ['CONFIRMED', { kind: 'reserved' }],
      ['CANCELLED', { kind: 'refunded', refunded: true }],
    ];
    for (const [state, outcome] of impossible) expect(() => advance(saga(state), outcome)).toThrow(SagaTransitionError);
    expect(stepFor('CONFIRMED')).toBeNull();
    expect(stepFor('CANCELLED')).toBeNull();
    expect(stepFor('AUTHORIZING')).toBe('payment.authorize');
    expect(isCompensation('REFUNDING') && isCompensation('RELEASING')).toBe(true);
    expect(isCompensation('AUTHORIZING') || isCompensation('RESERVING')).toBe(false);
  });

  it('every path ends in a terminal state with each event type at most once', () => {
    const outcomes: Record<string, StepOutcome[]> = {
      AUTHORIZING: [{ kind: 'authorized', paymentId: 'p', amountCents: 1 }, { kind: 'declined', reason: 'd' }, { kind: 'gave-up', reason: 'g' }],
      RESERVING: [{ kind: 'reserved' }, { kind: 'unavailable', reason: 'u' }, { kind: 'gave-up', reason: 'g' }],
      RELEASING: [{ kind: 'released', released: true, items: [] }, { kind: 'released', released: false, items: [] }],
      REFUNDING: [{ kind: 'refunded', refunded: true, paymentId: 'p', amountCents: 1 }, { kind: 'refunded', refunded: false }],
    };
    const walk = (s: Saga, log: string[]): number => {
      if (s.state === 'CONFIRMED' || s.state === 'CANCELLED') {
        expect(new Set(log).size).toBe(log.length);
        expect(log.at(-1)).toBe(s.state === 'CONFIRMED' ? 'OrderConfirmed' : 'OrderCancelled');
        return 1;
      }
      let paths = 0;
      for (const o of outcomes[s.state]!) {
        const t = advance(s, o);
        paths += walk({ ...s, state: t.to, reason: t.reason }, [...log, ...types(t.events)]);
      }
      return paths;
    };
    expect(walk(saga('AUTHORIZING'), ['OrderPlaced'])).toBeGreaterThan(5);
  });
});

describe('saga step answers', () => {
  it('maps each service answer to an outcome', () => {
    expect(interpret('payment.authorize', { status: 'AUTHORIZED', paymentId: 'p', amountCents: 5 })).toEqual({ kind: 'authorized', paymentId: 'p', amountCents: 5 });
    expect(interpret('payment.authorize', { status: 'DECLINED', reason: 'r' })).toEqual({ kind: 'declined', reason: 'r' });
    expect(interpret('inventory.reserve', { status: 'UNAVAILABLE', reason: 'r', sku: 'Z9' })).toEqual({ kind: 'unavailable', reason: 'r', sku: 'Z9' });
    expect(interpret('inventory.release', { released: false, status: 'VOID', items: [] })).toEqual({ kind: 'released', released: false, items: [] });
    expect(interpret('payment.refund', { refunded: true, status: 'REFUNDED', paymentId: 'p', amountCents: 5 })).toEqual({ kind: 'refunded', refunded: true, paymentId: 'p', amountCents: 5 });
  });

  it('treats a malformed answer as a failed attempt (INTERNAL), never as an outcome', () => {
    expect(() => interpret('payment.authorize', { status: 'OK' })).toThrow(/not a valid answer/);
    expect(() => interpret('payment.refund', null)).toThrow(/not a valid answer/);
  });
});

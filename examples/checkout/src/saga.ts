/**
 * The checkout saga as a pure state machine: which step a state runs, and
 * what a step's outcome turns into (next state + events to append). The
 * runner (saga-runner.ts) performs steps and persists each transition with
 * its events in one transaction, so a crash between two transitions resumes
 * at the last committed state and re-runs only the step in progress.
 *
 * ```
 *  AUTHORIZING ──authorized──▶ RESERVING ──reserved──▶ CONFIRMED
 *      │ declined                 │ unavailable
 *      ▼                          ▼
 *  CANCELLED ◀──refunded── REFUNDING ◀──released── RELEASING
 *      ▲                      ▲                        ▲
 *      └── (authorize gave up)┘   (reserve gave up) ───┘
 * ```
 *
 * Forward steps (authorize, reserve) give up after the configured attempts;
 * giving up means the remote effect may or may not have happened, so the
 * saga compensates anyway: release and refund are safe on an order the
 * other service never saw (they record a tombstone that refuses a late
 * reserve or authorize). Compensation steps never give up: they are retried
 * until they succeed.
 */
import type { EventDraft, OrderLine } from './events.js';

export type SagaState = 'AUTHORIZING' | 'RESERVING' | 'RELEASING' | 'REFUNDING' | 'CONFIRMED' | 'CANCELLED';

export const TERMINAL_STATES: ReadonlySet<SagaState> = new Set(['CONFIRMED', 'CANCELLED']);

/** What the runner knows about one saga. */
export interface Saga {
  readonly orderId: string;
  readonly state: SagaState;
  /** Failed attempts of the current step (reset on every transition). */
  readonly attempts: number;
  /** Why the order is being cancelled, once it is. */
  readonly reason: string | null;
  /** The last failed attempt's error, if any. */
  readonly lastError?: string | null;
  readonly items: readonly OrderLine[];
  readonly amountCents: number;
}

/** The remote call a state makes. Internal routes, documented in docs/checkout.md. */
export type SagaStep = 'payment.authorize' | 'inventory.reserve' | 'inventory.release' | 'payment.refund';

export type StepOutcome =
  | { kind: 'authorized'; paymentId: string; amountCents: number }
  | { kind: 'declined'; reason: string }
  | { kind: 'reserved' }
  | { kind: 'unavailable'; reason: string; sku?: string }
  | { kind: 'released'; released: boolean; items: OrderLine[] }
  | { kind: 'refunded'; refunded: boolean; paymentId?: string; amountCents?: number }
  /** A forward step exhausted its attempts (timeouts, transport errors): the effect is unknown. */
  | { kind: 'gave-up'; reason: string };

export interface Transition {
  readonly from: SagaState;
  readonly to: SagaState;
  readonly reason: string | null;
  readonly events: readonly EventDraft[];
}

const STEPS: Record<SagaState, SagaStep | null> = {
  AUTHORIZING: 'payment.authorize',
  RESERVING: 'inventory.reserve',
  RELEASING: 'inventory.release',
  REFUNDING: 'payment.refund',
  CONFIRMED: null,
  CANCELLED: null,
};

/** The step a state runs; null for terminal states. */
export function stepFor(state: SagaState): SagaStep | null {
  return STEPS[state];
}

/** Compensation steps are retried until they succeed; forward steps give up. */
export function isCompensation(state: SagaState): boolean {
  return state === 'RELEASING' || state === 'REFUNDING';
}

export function isSagaState(value: string): value is SagaState {
  return Object.prototype.hasOwnProperty.call(STEPS, value);
}

export class SagaTransitionError extends Error {
  override readonly name = 'SagaTransitionError';
}

/** The transition an outcome causes in `saga.state`. Throws SagaTransitionError for an outcome the state cannot have. */
export function advance(saga: Saga, outcome: StepOutcome): Transition {
  const t = (to: SagaState, events: EventDraft[], reason: string | null = saga.reason): Transition => ({ from: saga.state, to, reason, events });
  switch (saga.state) {
    case 'AUTHORIZING':
      if (outcome.kind === 'authorized') return t('RESERVING', [{ type: 'PaymentAuthorized', paymentId: outcome.paymentId, amountCents: outcome.amountCents }]);
      // A decline is recorded by payment (nothing was charged, a retry gets the same answer): nothing to compensate.
      if (outcome.kind === 'declined') {
        const reason = `payment declined: ${outcome.reason}`;
        return t('CANCELLED', [{ type: 'PaymentFailed', reason: outcome.reason }, { type: 'OrderCancelled', reason }], reason);
      }
      // Unknown whether a charge happened: refund (or void) it.
      if (outcome.kind === 'gave-up') return t('REFUNDING', [{ type: 'PaymentFailed', reason: outcome.reason }], `payment failed: ${outcome.reason}`);
      break;
    case 'RESERVING':
      if (outcome.kind === 'reserved') return t('CONFIRMED', [{ type: 'StockReserved', items: [...saga.items] }, { type: 'OrderConfirmed' }]);
      if (outcome.kind === 'unavailable') {
        const event: EventDraft = outcome.sku === undefined ? { type: 'StockUnavailable', reason: outcome.reason } : { type: 'StockUnavailable', reason: outcome.reason, sku: outcome.sku };
        return t('REFUNDING', [event], `stock unavailable: ${outcome.reason}`);
      }
      // Unknown whether stock was reserved: release (or void) it, then refund.
      if (outcome.kind === 'gave-up') return t('RELEASING', [{ type: 'StockUnavailable', reason: outcome.reason }], `stock reservation failed: ${outcome.reason}`);
      break;
    case 'RELEASING':
      if (outcome.kind === 'released') return t('REFUNDING', outcome.released ? [{ type: 'StockReleased', items: outcome.items }] : []);
      break;
    case 'REFUNDING':
      if (outcome.kind === 'refunded') {
        const cancelled: EventDraft = { type: 'OrderCancelled', reason: saga.reason ?? 'cancelled' };
        if (!outcome.refunded) return t('CANCELLED', [cancelled]);
        return t('CANCELLED', [{ type: 'PaymentRefunded', paymentId: outcome.paymentId ?? '', amountCents: outcome.amountCents ?? 0 }, cancelled]);
      }
      break;
    case 'CONFIRMED':
    case 'CANCELLED':
      break;
  }
  throw new SagaTransitionError(`saga of order ${saga.orderId}: outcome '${outcome.kind}' is not possible in state ${saga.state}`);
}

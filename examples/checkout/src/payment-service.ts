/**
 * The payment service: authorizes and refunds order payments, idempotently
 * per order id (see payment-store.ts). Its routes are internal: the order
 * service's saga calls them through the gateway.
 *
 * - `payment.authorize` `{orderId, amountCents}` -> `{status: "AUTHORIZED", paymentId, amountCents}` or `{status: "DECLINED", reason}`
 * - `payment.refund` `{orderId}` -> `{refunded, status, paymentId?, amountCents?}`
 * - `payment.get` `{orderId}` -> the payment, its ledger and the calls received (for operators and tests)
 */
import type { RouteTable } from 'sluice';
import { createChaos } from './chaos.js';
import { resolvePaymentOptions, type PaymentOptions } from './config.js';
import { PaymentStore } from './payment-store.js';
import { serveStore, type CheckoutServiceOptions, type RunningService } from './service-host.js';
import { amountField, idField, parseObject, parseOrderRef } from './validation.js';

/** The routes the payment service registers. */
export const PAYMENT_ROUTES = ['payment.authorize', 'payment.refund', 'payment.get'] as const;

/** The payment routes over a store; `random` drives the failure knob (injectable, for determinism). */
export function paymentRoutes(store: PaymentStore, options: PaymentOptions, random?: () => number): RouteTable {
  const chaos = createChaos(options, random);
  return {
    'payment.authorize': {
      idempotent: true,
      async requestResponse(data: unknown, ctx) {
        const obj = parseObject(data, 'payment.authorize', ['orderId', 'amountCents']);
        const orderId = idField(obj, 'orderId');
        const amountCents = amountField(obj, 'amountCents');
        await store.countCall(orderId, 'payment.authorize');
        chaos.maybeFail('payment.authorize');
        const result = await store.authorize(orderId, amountCents, options.maxAmountCents);
        ctx.log.debug({ orderId, status: result.status }, 'authorize');
        await chaos.delay(ctx.signal);
        return result;
      },
    },
    'payment.refund': {
      idempotent: true,
      async requestResponse(data: unknown, ctx) {
        const { orderId } = parseOrderRef(data, 'payment.refund');
        await store.countCall(orderId, 'payment.refund');
        chaos.maybeFail('payment.refund');
        const result = await store.refund(orderId);
        ctx.log.debug({ orderId, refunded: result.refunded, status: result.status }, 'refund');
        await chaos.delay(ctx.signal);
        return result;
      },
    },
    'payment.get': {
      idempotent: true,
      requestResponse: (data: unknown) => store.get(parseOrderRef(data, 'payment.get').orderId),
    },
  };
}

/** Opens the payment store in `<dataDir>/payment` and serves the payment routes until closed. */
export async function startPaymentService(options: CheckoutServiceOptions & { payment?: Partial<PaymentOptions> }): Promise<RunningService> {
  const resolved = resolvePaymentOptions(options.payment);
  return serveStore(options, 'payment', (dir, log) => PaymentStore.open(dir, log), (store) => paymentRoutes(store, resolved), resolved);
}

/**
 * Dead webhook deliveries in the gateway's one dead-letter queue. A delivery
 * that used its last attempt becomes a dead letter like any failed request:
 * stored durably, counted in `sluice_dead_lettered_total`, listed by
 * `dlq.list` (`sluice dlq list`) under the route name `webhooks.delivery`,
 * and replayed by `dlq.replay`, which queues the delivery again (same
 * `webhook-id`, attempts from zero) instead of sending a request anywhere.
 */
import { SluiceError } from '../errors.js';
import type { FailedRequest } from '../deadletter/rules.js';
import type { DeadLetter } from '../deadletter/store.js';
import type { LocalReplay } from '../deadletter/routes.js';
import type { WebhookDispatcher } from './dispatcher.js';
import type { Delivery, Subscription } from './webhook-log.js';

/** The route name dead webhook deliveries are listed under. No instance serves it: replays stay in the gateway. */
export const WEBHOOK_DEAD_LETTER_ROUTE = 'webhooks.delivery';

/** What a dead-letter entry of a delivery holds (its data, as JSON): enough to send it again, never the secret. */
interface DeadDelivery {
  subscription: string;
  topic: string;
  delivery: string;
  key: string;
  /** The JSON body as it was signed and sent. */
  body: string;
  createdAt: number;
}

/** The dead letter of `delivery`, which gave up with `error` after its attempts. */
export function deadDeliveryLetter(delivery: Delivery, subscription: Subscription, error: string): FailedRequest {
  const data: DeadDelivery = { subscription: subscription.id, topic: subscription.topic, delivery: delivery.id, key: delivery.key, body: delivery.body, createdAt: delivery.createdAt };
  return {
    route: WEBHOOK_DEAD_LETTER_ROUTE,
    model: 'fnf',
    payload: { data: new TextEncoder().encode(JSON.stringify(data)), metadata: null },
    error: new SluiceError('UNAVAILABLE', `webhook delivery ${delivery.id} of '${subscription.topic}' failed ${delivery.attempts} attempts; last: ${error}`),
    attempts: delivery.attempts,
    // The log keeps no time of the first failure; the event's publish time is the earliest it can be.
    firstFailedAt: delivery.createdAt,
  };
}

/** The replay of dead deliveries: each entry queued again on `dispatcher`. */
export function deadDeliveryReplay(dispatcher: WebhookDispatcher): LocalReplay {
  return async (entry: DeadLetter) => {
    let d: DeadDelivery;
    try {
      d = JSON.parse(Buffer.from(entry.data, 'base64').toString('utf8')) as DeadDelivery;
    } catch {
      throw new SluiceError('INVALID_ARGUMENT', `dead letter '${entry.id}' is not a webhook delivery`);
    }
    if (typeof d?.subscription !== 'string' || typeof d.delivery !== 'string' || typeof d.key !== 'string' || typeof d.body !== 'string') {
      throw new SluiceError('INVALID_ARGUMENT', `dead letter '${entry.id}' is not a webhook delivery`);
    }
    await dispatcher.requeue({ id: d.delivery, sub: d.subscription, key: d.key, body: d.body, createdAt: typeof d.createdAt === 'number' ? d.createdAt : entry.firstFailedAt });
  };
}

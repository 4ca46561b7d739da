/**
 * Prometheus view of the webhook dispatcher: attempts by outcome, and the
 * subscriptions, pending and dead deliveries read at scrape time. Registered
 * whether or not webhooks are on, so dashboards find the series (at 0).
 */
import client from 'prom-client';
import type { DeliveryObserver, WebhookDispatcher } from '../webhooks/dispatcher.js';

export function registerWebhookMetrics(registry: client.Registry, dispatcher: () => WebhookDispatcher | undefined): DeliveryObserver {
  const registers = [registry];
  const attempts = new client.Counter({
    name: 'sluice_webhook_attempts_total',
    help: 'Webhook delivery attempts by result: delivered (2xx), failed (will retry), dead (gave up after webhooks.maxAttempts)',
    labelNames: ['result'],
    registers,
  });
  for (const result of ['delivered', 'failed', 'dead']) attempts.inc({ result }, 0);
  const gauge = (name: string, help: string, read: (d: WebhookDispatcher) => number) =>
    new client.Gauge({
      name,
      help,
      registers,
      collect() {
        const d = dispatcher();
        this.set(d ? read(d) : 0);
      },
    });
  gauge('sluice_webhook_subscriptions', 'Webhook subscriptions', (d) => d.subscriptionCount);
  gauge('sluice_webhook_pending', 'Webhook deliveries not yet delivered (durable; bounded by webhooks.maxPending)', (d) => d.pendingCount);
  gauge('sluice_webhook_dead', 'Webhook deliveries that gave up, kept for operators (at most webhooks.maxDead)', (d) => d.deadCount);
  return { attempt: (result) => attempts.inc({ result }) };
}

/**
 * Feeds the order service's events to the gateway's webhook dispatcher
 * (`webhooks.publish`, keyed by order id so each endpoint gets an order's
 * events in `seq` order). Called whenever an order changes; publishes what
 * the store holds past the last event published, one order at a time.
 *
 * At most once per process: an event whose publish fails (gateway away,
 * OVERLOADED) is published with the order's next change, and events of an
 * order that does not change again after a restart are not re-sent. Memory
 * is bounded: at most `capacity` orders tracked, the oldest forgotten.
 */
import type { Logger } from 'sluice';
import { SluiceError } from 'sluice';
import { isTerminal, type OrderEvent } from './events.js';

export interface OrderWebhookFeedDeps {
  events(orderId: string, fromSeq: number, limit: number): Promise<OrderEvent[]>;
  publish(topic: string, key: string, event: OrderEvent): Promise<unknown>;
}

export class OrderWebhookFeed {
  /** Last seq published per order. */
  private readonly published = new Map<string, number>();
  /** One flush at a time per order, so events leave in order. */
  private readonly flushing = new Map<string, Promise<void>>();

  constructor(
    private readonly topic: string,
    private readonly deps: OrderWebhookFeedDeps,
    private readonly log: Logger,
    private readonly capacity = 10_000,
  ) {}

  /** The order has new events. */
  changed(orderId: string): void {
    const previous = this.flushing.get(orderId) ?? Promise.resolve();
    const next = previous.then(() => this.flush(orderId));
    this.flushing.set(orderId, next);
    void next.finally(() => {
      if (this.flushing.get(orderId) === next) this.flushing.delete(orderId);
    });
  }

  private async flush(orderId: string): Promise<void> {
    try {
      const events = await this.deps.events(orderId, (this.published.get(orderId) ?? 0) + 1, 16);
      for (const event of events) {
        await this.deps.publish(this.topic, orderId, event);
        this.remember(orderId, event.seq);
        if (isTerminal(event)) this.published.delete(orderId);
      }
    } catch (err) {
      const e = SluiceError.from(err);
      this.log.warn({ orderId, topic: this.topic, code: e.code, reason: e.message }, 'order webhook feed: publish failed; retried with the order\'s next change');
    }
  }

  private remember(orderId: string, seq: number): void {
    this.published.delete(orderId);
    this.published.set(orderId, seq);
    if (this.published.size > this.capacity) this.published.delete(this.published.keys().next().value!);
  }
}

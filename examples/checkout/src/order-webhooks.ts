/**
 * Feeds the order service's events to the gateway's webhook dispatcher
 * (`webhooks.publish`, keyed by order id so each endpoint gets an order's
 * events in `seq` order). Called whenever an order changes; publishes what
 * the store holds past the last event published, one order at a time.
 *
 * Each event is published with its id (`<orderId>:<seq>`), so publishing is
 * idempotent at the gateway: a publish that failed, or whose answer was
 * lost, is simply made again. A publish that failed for a passing reason
 * (gateway away or overloaded, answer lost) is retried with backoff (full
 * jitter, 500 ms doubling to 30 s) until it succeeds; any other failure
 * (webhooks off at the gateway, not granted) waits for the order's next
 * change; a restarted
 * order service publishes a resumed order's events from its first again,
 * and the gateway drops those it already has (same `webhook-id`).
 * What is not covered: an order whose last events were committed but not
 * published when the process died, and which never changes again.
 * Memory is bounded: at most `capacity` orders tracked and retrying, the
 * oldest forgotten.
 */
import type { Logger } from 'sluice';
import { SluiceError, backoffDelay, isRetryable } from 'sluice';
import { isTerminal, type OrderEvent } from './events.js';

export interface OrderWebhookFeedDeps {
  events(orderId: string, fromSeq: number, limit: number): Promise<OrderEvent[]>;
  /** `id` is the event's id in the topic: a publish of an id the gateway has is a duplicate, not sent again. */
  publish(topic: string, key: string, event: OrderEvent, id: string): Promise<unknown>;
}

/** Retry delays of a failed publish: full jitter under a ceiling doubling from 500 ms to 30 s. */
const RETRY = { initialDelayMs: 500, maxDelayMs: 30_000, multiplier: 2 };

/** Events read from the store per publish round; an order with more goes on in the next round at once. */
const BATCH = 16;

export class OrderWebhookFeed {
  /** Last seq published per order. */
  private readonly published = new Map<string, number>();
  /** One flush at a time per order, so events leave in order. */
  private readonly flushing = new Map<string, Promise<void>>();
  /** Orders whose publish failed: the retry timer and how many failed in a row. */
  private readonly retrying = new Map<string, { timer: ReturnType<typeof setTimeout>; failures: number }>();
  private closed = false;

  constructor(
    private readonly topic: string,
    private readonly deps: OrderWebhookFeedDeps,
    private readonly log: Logger,
    private readonly capacity = 10_000,
  ) {}

  /** The order has new events. */
  changed(orderId: string): void {
    if (this.closed) return;
    const previous = this.flushing.get(orderId) ?? Promise.resolve();
    const next = previous.then(() => this.flush(orderId));
    this.flushing.set(orderId, next);
    void next.finally(() => {
      if (this.flushing.get(orderId) === next) this.flushing.delete(orderId);
    });
  }

  /** Orders waiting to retry a failed publish. */
  get retryingCount(): number {
    return this.retrying.size;
  }

  /** Stops retrying; later changes are not published. */
  close(): void {
    this.closed = true;
    for (const r of this.retrying.values()) clearTimeout(r.timer);
    this.retrying.clear();
  }

  private async flush(orderId: string): Promise<void> {
    if (this.closed) return;
    try {
      const events = await this.deps.events(orderId, (this.published.get(orderId) ?? 0) + 1, BATCH);
      for (const event of events) {
        await this.deps.publish(this.topic, orderId, event, `${orderId}:${event.seq}`);
        this.remember(orderId, event.seq);
        if (isTerminal(event)) this.published.delete(orderId);
      }
      this.succeeded(orderId);
      if (events.length === BATCH) this.changed(orderId);
    } catch (err) {
      const e = SluiceError.from(err);
      if (passing(e)) this.failed(orderId, e);
      else this.log.warn({ orderId, topic: this.topic, code: e.code, reason: e.message }, "order webhook feed: publish refused; published again with the order's next change");
    }
  }

  private succeeded(orderId: string): void {
    const r = this.retrying.get(orderId);
    if (!r) return;
    clearTimeout(r.timer);
    this.retrying.delete(orderId);
  }

  private failed(orderId: string, e: SluiceError): void {
    if (this.closed) return;
    const failures = (this.retrying.get(orderId)?.failures ?? 0) + 1;
    const delay = Math.max(1, backoffDelay(failures - 1, RETRY));
    const timer = setTimeout(() => this.changed(orderId), delay);
    timer.unref?.();
    clearTimeout(this.retrying.get(orderId)?.timer);
    this.retrying.delete(orderId);
    this.retrying.set(orderId, { timer, failures });
    if (this.retrying.size > this.capacity) {
      const [oldest, r] = this.retrying.entries().next().value!;
      clearTimeout(r.timer);
      this.retrying.delete(oldest);
      this.log.warn({ orderId: oldest, topic: this.topic }, 'order webhook feed: too many orders retrying; this one is published again with its next change only');
    }
    this.log.warn({ orderId, topic: this.topic, code: e.code, reason: e.message, failures, retryInMs: delay }, 'order webhook feed: publish failed; retrying');
  }

  private remember(orderId: string, seq: number): void {
    this.published.delete(orderId);
    this.published.set(orderId, seq);
    if (this.published.size > this.capacity) this.published.delete(this.published.keys().next().value!);
  }
}

/** Failures a later attempt may not meet: the gateway away, overloaded, or an answer lost on the way (the event id makes a repeat harmless). */
function passing(e: SluiceError): boolean {
  return isRetryable(e) || e.code === 'OUTCOME_UNKNOWN' || e.code === 'DEADLINE_EXCEEDED';
}

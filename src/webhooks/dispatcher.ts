/**
 * Delivers published events to subscribed HTTP endpoints: signed per
 * Standard Webhooks, retried with exponential backoff (full jitter) up to
 * `maxAttempts`, then kept as dead; durable across restarts (webhook-log.ts);
 * at most `concurrencyPerEndpoint` requests in flight per subscription; and
 * in publish order per ordering key (an order id): a key's next delivery
 * waits until the one before it was delivered or died.
 *
 * Any event stream can feed it through `publish`; the gateway serves it as
 * the `webhooks.*` routes (webhook-routes.ts).
 */
import { createHash, randomBytes } from 'node:crypto';
import { request as httpRequest, type ClientRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { WebhooksConfig } from '../config.js';
import { SluiceError } from '../errors.js';
import type { Logger } from '../observability/log.js';
import { backoffDelay } from '../resilience/backoff.js';
import { EndpointPolicy, hostOf } from './endpoint-policy.js';
import { newWebhookSecret, signatureHeaders } from './signature.js';
import { WebhookLog, type Delivery, type Subscription } from './webhook-log.js';

/** The dispatcher's settings: the gateway's `webhooks` config group (`enabled` is the gateway's to read). */
export type WebhookSettings = Omit<WebhooksConfig, 'enabled'>;

/** Where a delivery that used its last attempt goes (the gateway's dead-letter queue). */
export type DeadDeliverySink = (delivery: Delivery, subscription: Subscription, error: string) => void;

/** What a delivery attempt's outcome is reported to (metrics). */
export interface DeliveryObserver {
  attempt(result: 'delivered' | 'failed' | 'dead'): void;
}

/**
 * Finished deliveries (delivered or forgotten dead) whose ids a publish
 * naming an event id is checked against, besides those pending and dead:
 * the most recent this many, in memory (a restarted gateway starts with
 * none; receivers deduplicate on `webhook-id` past that).
 */
export const RECENT_DELIVERY_IDS = 10_000;

/** What a publish did: deliveries enqueued, and subscriptions that already had this event (same event id). */
export interface PublishResult {
  deliveries: number;
  duplicates: number;
}

/** The delivery id of event `eventId` for subscription `subId`: the same on every publish of that event. */
export function eventDeliveryId(subId: string, eventId: string): string {
  return `msg_e${createHash('sha256').update(subId).update('\u0000').update(eventId).digest('base64url').slice(0, 24)}`;
}

export interface SubscriptionView {
  id: string;
  topic: string;
  url: string;
  owner: string;
  createdAt: number;
  pending: number;
  dead: number;
}

export class WebhookDispatcher {
  private readonly policy: EndpointPolicy;
  /** Requests in flight per subscription. */
  private readonly inFlight = new Map<string, number>();
  /** Deliveries with an attempt in flight. */
  private readonly attempting = new Set<string>();
  /** Requests on the wire, aborted at close (their deliveries stay pending in the log). */
  private readonly requests = new Set<ClientRequest>();
  private timer: ReturnType<typeof setTimeout> | undefined;
  private timerAt = Infinity;
  private deadSink: DeadDeliverySink | undefined;
  private closed = false;
  /** Ids of deliveries finished lately, oldest first, at most RECENT_DELIVERY_IDS. */
  private readonly recent = new Set<string>();
  /** Ids of deliveries being written to the log now (a concurrent publish of the same event is a duplicate). */
  private readonly enqueuing = new Set<string>();

  private constructor(
    private readonly settings: WebhookSettings,
    private readonly store: WebhookLog,
    private readonly log: Logger,
    private observer: DeliveryObserver | undefined,
  ) {
    this.policy = new EndpointPolicy(settings);
  }

  /** Opens the log in `settings.dir` and resumes every pending delivery. */
  static async open(settings: WebhookSettings, log: Logger, observer?: DeliveryObserver): Promise<WebhookDispatcher> {
    const store = await WebhookLog.open({ dir: settings.dir, maxPending: settings.maxPending, maxBytes: settings.maxBytes, maxDead: settings.maxDead });
    if (store.tornLines > 0) log.warn({ dir: settings.dir, tornLines: store.tornLines }, 'webhooks: dropped a record torn by a crash');
    const d = new WebhookDispatcher(settings, store, log, observer);
    if (store.pending.size > 0) log.info({ pending: store.pending.size }, 'webhooks: resuming pending deliveries');
    d.pump();
    return d;
  }

  /** Where attempt outcomes are reported from now on (the gateway's metrics). */
  observe(observer: DeliveryObserver): void {
    this.observer = observer;
  }

  /** Where dead deliveries are handed from now on, besides being kept in the log (the gateway's dead-letter queue). */
  deadLetterTo(sink: DeadDeliverySink): void {
    this.deadSink = sink;
  }

  /**
   * Queues a dead delivery again (a dead-letter replay): same `webhook-id`,
   * attempts from zero, behind the deliveries of its key already pending.
   * Throws INVALID_ARGUMENT when its subscription is gone, OVERLOADED when
   * `maxPending` deliveries are pending.
   */
  async requeue(d: Pick<Delivery, 'id' | 'sub' | 'key' | 'body' | 'createdAt'>): Promise<void> {
    if (this.closed) throw new SluiceError('UNAVAILABLE', 'webhooks: the dispatcher is closed');
    if (!this.store.subscriptions.has(d.sub)) throw new SluiceError('INVALID_ARGUMENT', `webhook subscription '${d.sub}' no longer exists; delivery ${d.id} cannot be sent again`);
    await this.store.requeue(d);
    this.log.info({ id: d.id, sub: d.sub }, 'webhooks: dead delivery queued again');
    this.pump();
  }

  get pendingCount(): number {
    return this.store.pending.size;
  }

  get deadCount(): number {
    return this.store.dead.size;
  }

  get subscriptionCount(): number {
    return this.store.subscriptions.size;
  }

  /** Subscribes `url` to `topic` for `owner`; resolves with the subscription (its secret included) once durable. */
  async subscribe(owner: string, topic: string, url: unknown, secret: string = newWebhookSecret()): Promise<Subscription> {
    const checked = this.policy.check(url);
    if (this.store.subscriptions.size >= this.settings.maxSubscriptions) {
      throw new SluiceError('OVERLOADED', `webhooks: ${this.store.subscriptions.size} subscriptions, at most webhooks.maxSubscriptions`);
    }
    const sub: Subscription = { id: `wh_${randomBytes(8).toString('hex')}`, topic, url: checked.href, secret, owner, createdAt: Date.now() };
    await this.store.subscribe(sub);
    this.log.info({ id: sub.id, topic, host: hostOf(checked), owner }, 'webhooks: subscribed');
    return sub;
  }

  get(id: string): Subscription | undefined {
    return this.store.subscriptions.get(id);
  }

  async unsubscribe(id: string): Promise<void> {
    await this.store.unsubscribe(id);
    this.log.info({ id }, 'webhooks: unsubscribed');
  }

  /** Subscriptions (of `owner`, or all), with their pending and dead deliveries counted. */
  list(owner?: string): SubscriptionView[] {
    const counts = new Map<string, { pending: number; dead: number }>();
    const count = (d: Delivery, k: 'pending' | 'dead') => {
      const c = counts.get(d.sub) ?? { pending: 0, dead: 0 };
      c[k]++;
      counts.set(d.sub, c);
    };
    for (const d of this.store.pending.values()) count(d, 'pending');
    for (const d of this.store.dead.values()) count(d, 'dead');
    return [...this.store.subscriptions.values()]
      .filter((s) => owner === undefined || s.owner === owner)
      .map((s) => ({ id: s.id, topic: s.topic, url: s.url, owner: s.owner, createdAt: s.createdAt, ...(counts.get(s.id) ?? { pending: 0, dead: 0 }) }));
  }

  /** Dead deliveries of a subscription, oldest first (what gave up, and why). */
  deadOf(subId: string): Delivery[] {
    return [...this.store.dead.values()].filter((d) => d.sub === subId);
  }

  /**
   * Enqueues `event` for every subscription of `topic`, durably, before
   * resolving with how many deliveries were made. `key` orders deliveries:
   * the same key reaches each endpoint in publish order.
   *
   * `eventId` (the publisher's id of the event, unique in the topic) makes
   * publishing idempotent, so a publisher may retry one it does not know
   * succeeded: each delivery's `webhook-id` is derived from it, and a
   * subscription that has the event pending, dead or lately delivered
   * (RECENT_DELIVERY_IDS) is counted a duplicate and not sent it again.
   */
  async publish(topic: string, key: string, event: unknown, eventId?: string): Promise<PublishResult> {
    const all = [...this.store.subscriptions.values()].filter((s) => s.topic === topic);
    if (all.length === 0) return { deliveries: 0, duplicates: 0 };
    const body = JSON.stringify({ type: topic, timestamp: new Date().toISOString(), data: event });
    if (Buffer.byteLength(body) > this.settings.maxBodyBytes) {
      throw new SluiceError('INVALID_ARGUMENT', `webhook body of ${Buffer.byteLength(body)} bytes is over webhooks.maxBodyBytes (${this.settings.maxBodyBytes})`);
    }
    if (eventId === undefined) {
      await this.store.enqueue(all, key, body);
      this.pump();
      return { deliveries: all.length, duplicates: 0 };
    }
    const ids: string[] = [];
    const subs = all.filter((s) => {
      const id = eventDeliveryId(s.id, eventId);
      if (this.enqueuing.has(id) || this.store.pending.has(id) || this.store.dead.has(id) || this.recent.has(id)) return false;
      ids.push(id);
      return true;
    });
    if (subs.length > 0) {
      for (const id of ids) this.enqueuing.add(id);
      try {
        await this.store.enqueue(subs, key, body, Date.now(), ids);
      } finally {
        for (const id of ids) this.enqueuing.delete(id);
      }
      this.pump();
    }
    return { deliveries: subs.length, duplicates: all.length - subs.length };
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    for (const req of this.requests) req.destroy(new Error('webhooks: closing'));
    await this.store.close();
  }

  /**
   * Starts every delivery that may go now: due, its subscription under its
   * concurrency, and first of its key among that subscription's pending
   * deliveries. Arms one timer for the earliest delivery waiting only on time.
   */
  private pump(): void {
    if (this.closed) return;
    const now = Date.now();
    const blocked = new Set<string>();
    let earliest = Infinity;
    for (const d of this.store.pending.values()) {
      const lane = `${d.sub}\u0000${d.key}`;
      if (blocked.has(lane)) continue;
      blocked.add(lane); // later deliveries of this key wait for this one
      if (this.attempting.has(d.id)) continue;
      if ((this.inFlight.get(d.sub) ?? 0) >= this.settings.concurrencyPerEndpoint) continue;
      if (d.nextAt > now) {
        earliest = Math.min(earliest, d.nextAt);
        continue;
      }
      const sub = this.store.subscriptions.get(d.sub);
      if (!sub) continue;
      this.start(sub, d);
    }
    this.arm(earliest);
  }

  private arm(at: number): void {
    if (at === Infinity || at >= this.timerAt) return;
    clearTimeout(this.timer);
    this.timerAt = at;
    this.timer = setTimeout(() => {
      this.timerAt = Infinity;
      this.pump();
    }, Math.max(0, at - Date.now()));
    this.timer.unref?.();
  }

  private start(sub: Subscription, d: Delivery): void {
    this.attempting.add(d.id);
    this.inFlight.set(sub.id, (this.inFlight.get(sub.id) ?? 0) + 1);
    void this.post(sub, d)
      .then(
        () => this.settled(d, undefined),
        (err: unknown) => this.settled(d, err instanceof Error ? err.message : String(err)),
      )
      .catch((err: unknown) => this.log.error({ id: d.id, reason: (err as Error).message }, 'webhooks: could not record a delivery outcome'))
      .finally(() => {
        this.attempting.delete(d.id);
        const n = (this.inFlight.get(sub.id) ?? 1) - 1;
        if (n > 0) this.inFlight.set(sub.id, n);
        else this.inFlight.delete(sub.id);
        this.pump();
      });
  }

  /** Records the attempt's outcome durably: delivered, failed with the next attempt's time, or dead. */
  private async settled(d: Delivery, error: string | undefined): Promise<void> {
    if (this.closed || !this.store.pending.has(d.id)) return;
    if (error === undefined) {
      await this.store.delivered(d.id);
      this.remember(d.id);
      this.observer?.attempt('delivered');
      return;
    }
    const attempts = d.attempts + 1;
    if (attempts >= this.settings.maxAttempts) {
      await this.store.died(d.id, attempts, error);
      this.observer?.attempt('dead');
      this.log.warn({ id: d.id, sub: d.sub, attempts, error }, 'webhooks: delivery dead after its last attempt');
      const sub = this.store.subscriptions.get(d.sub);
      if (sub) this.deadSink?.(d, sub, error);
      return;
    }
    const delay = Math.max(1, backoffDelay(attempts - 1, { initialDelayMs: this.settings.initialDelayMs, maxDelayMs: this.settings.maxDelayMs, multiplier: 2 }));
    await this.store.failed(d.id, attempts, Date.now() + delay, error);
    this.observer?.attempt('failed');
    this.log.debug({ id: d.id, sub: d.sub, attempts, delay, error }, 'webhooks: delivery failed, will retry');
  }

  /** Keeps a finished delivery's id for deduplicating publishes, within RECENT_DELIVERY_IDS. */
  private remember(id: string): void {
    this.recent.add(id);
    if (this.recent.size > RECENT_DELIVERY_IDS) this.recent.delete(this.recent.values().next().value!);
  }

  /** One POST; resolves on a 2xx answer, rejects with why otherwise. */
  private post(sub: Subscription, d: Delivery): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      let url: URL;
      try {
        // Checked again: the allowlist may have changed since the subscription was made.
        url = this.policy.check(sub.url);
      } catch (err) {
        reject(err as Error);
        return;
      }
      const headers = {
        'content-type': 'application/json',
        'content-length': String(Buffer.byteLength(d.body)),
        'user-agent': 'sluice-webhooks',
        ...signatureHeaders(sub.secret, d.id, Math.floor(Date.now() / 1000), d.body),
      };
      const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
      const req = send(url, { method: 'POST', headers, lookup: this.policy.lookup, timeout: this.settings.timeoutMs }, (res: IncomingMessage) => {
        // The answer's body is not needed: drained, not kept.
        res.resume();
        res.on('end', () => ((res.statusCode ?? 0) >= 200 && (res.statusCode ?? 0) < 300 ? resolve() : reject(new Error(`HTTP ${res.statusCode}`))));
        res.on('error', reject);
      });
      this.requests.add(req);
      req.on('close', () => this.requests.delete(req));
      req.on('timeout', () => req.destroy(new Error(`no answer within ${this.settings.timeoutMs} ms`)));
      req.on('error', reject);
      req.end(d.body);
    });
  }
}

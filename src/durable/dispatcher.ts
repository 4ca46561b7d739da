/**
 * Delivery of one durable route's commands to its instances. Demand runs
 * from the services back into the queue: the dispatcher keeps one pull
 * outstanding for exactly the commands its instances may be sent now (the
 * sum of their links' capacity), so the queue never hands over more than the
 * services asked for, and a JetStream fetch is sized by the services'
 * request(n).
 *
 * Settlement: an ack settles a command for good. A failure redelivers it
 * after an exponential backoff with full jitter, until its delivery count
 * reaches `maxDeliveries`; it is then dead-lettered (the gateway's
 * dead-letter queue, so `dlq.replay` can put it back) and terminated. When
 * the dead-letter queue refuses it, the command is kept and retried at the
 * longest backoff instead: a durable command is never dropped.
 */
import { SluiceError } from '../errors.js';
import type { Logger } from '../observability/log.js';
import { backoffDelay } from '../resilience/backoff.js';
import type { DeadLetterSink } from '../deadletter/rules.js';
import type { Instance } from '../broker/registry.js';
import type { DurablePolicy } from '../policy/policy-config.js';
import { ChannelLink, ResponseLink, type DeliveryLink, type LinkEvents } from './delivery-link.js';
import type { Delivery, DurableQueue } from './queue.js';

/** What a durable route counts, for /metrics and the dashboard. */
export interface DurableCounters {
  /** Commands persisted and acknowledged to their client. */
  accepted: number;
  /** Commands acknowledged as duplicates of one within the dedupe window. */
  duplicates: number;
  /** Commands refused (queue full, persistence failed). */
  refused: number;
  /** Commands the services acknowledged. */
  delivered: number;
  /** Deliveries after the first. */
  redeliveries: number;
  deadLettered: number;
}

/** Pulls under way at once per route. */
const MAX_PULLS = 16;
/** Smallest pull made while another is under way (smaller when the instances' whole room is). */
const MIN_EXTRA_PULL = 16;
/** Ms before pulling again after a pull failed. */
const PULL_RETRY_MS = 1_000;

export class Dispatcher {
  private readonly links = new Map<Instance, DeliveryLink>();
  /** Pulls under way, each with the commands it may still hand over. */
  private readonly pulls = new Set<{ ac: AbortController; left: number }>();
  private poked: (() => void) | undefined;
  /** No new pull before this epoch ms (after a failed one). */
  private pauseUntil = 0;
  private readonly ackSweep: ReturnType<typeof setInterval>;
  private closed = false;
  private readonly done: Promise<void>;

  constructor(
    readonly queue: DurableQueue,
    private readonly policy: DurablePolicy,
    private readonly deadLetter: DeadLetterSink | undefined,
    private readonly log: Logger,
    readonly counters: DurableCounters,
  ) {
    this.done = this.run();
    this.ackSweep = setInterval(() => this.sweepAcks(), Math.max(25, Math.min(1_000, Math.floor(policy.ackTimeoutMs / 4))));
    this.ackSweep.unref();
  }

  get route(): string {
    return this.queue.route;
  }

  /** Commands sent to instances and not yet settled. */
  get inFlight(): number {
    let n = 0;
    for (const l of this.links.values()) n += l.inFlight;
    return n;
  }

  /** Fails the deliveries unsettled for longer than `ackTimeoutMs`; one timer for the route. */
  private sweepAcks(): void {
    const before = Date.now() - this.policy.ackTimeoutMs;
    for (const l of this.links.values()) l.expire(before, this.policy.ackTimeoutMs);
  }

  /** An instance serving the route joined. */
  add(instance: Instance): void {
    if (this.closed || this.links.has(instance)) return;
    const events: LinkEvents = {
      acked: (d) => {
        this.counters.delivered++;
        d.ack();
      },
      failed: (d, e) => this.failed(d, e, instance),
      demandChanged: () => this.poke(),
    };
    const max = this.policy.maxInFlightPerInstance;
    const link = this.policy.delivery === 'channel' ? new ChannelLink(instance.connection, max, events) : new ResponseLink(instance.connection, max, events);
    this.links.set(instance, link);
    this.poke();
  }

  /** An instance left: its unacknowledged commands go back to the queue. */
  remove(instance: Instance): void {
    const link = this.links.get(instance);
    if (!link) return;
    this.links.delete(instance);
    link.close(new SluiceError('UNAVAILABLE', `instance ${instance.service}/${instance.id} left with the command unacknowledged`));
    // Pulls sized for the old demand must not hand over commands with nowhere to go.
    for (const p of this.pulls) p.ac.abort();
    this.poke();
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.ackSweep);
    for (const p of this.pulls) p.ac.abort();
    this.poke();
    for (const link of this.links.values()) link.close(new SluiceError('UNAVAILABLE', 'gateway shutting down'));
    this.links.clear();
    await this.done;
    while (this.pulls.size > 0) await new Promise<void>((resolve) => (this.poked = resolve));
  }

  private capacity(): number {
    let n = 0;
    for (const l of this.links.values()) n += l.capacity();
    return n;
  }

  private poke(): void {
    const p = this.poked;
    this.poked = undefined;
    p?.();
  }

  /**
   * Keeps pulls outstanding for the instances' free room. Each pull asks for
   * what is free and not already asked for, so several can be under way (a
   * JetStream fetch waits until its batch fills or expires; waiting for it
   * before asking again would leave room unused for a round trip), while
   * the commands asked for never exceed what the instances may be sent.
   */
  private async run(): Promise<void> {
    while (!this.closed) {
      const free = this.capacity() - this.asked();
      // A small pull while others are under way costs a round trip for little: wait for more room unless nothing is asked for.
      const worth = this.pulls.size === 0 ? 1 : Math.min(MIN_EXTRA_PULL, Math.max(1, this.roomMax() >> 2));
      if (free < worth || this.pulls.size >= MAX_PULLS || Date.now() < this.pauseUntil) {
        await new Promise<void>((resolve) => {
          this.poked = resolve;
          const wait = this.pauseUntil - Date.now();
          if (wait > 0 && free >= worth && this.pulls.size < MAX_PULLS) setTimeout(() => this.poke(), wait).unref();
        });
        continue;
      }
      this.startPull(free);
    }
  }

  private startPull(max: number): void {
    const pull = { ac: new AbortController(), left: max };
    this.pulls.add(pull);
    this.queue
      .pull(
        max,
        (d) => {
          pull.left = Math.max(0, pull.left - 1);
          this.dispatch(d);
        },
        pull.ac.signal,
      )
      .catch((err: unknown) => {
        if (this.closed) return;
        this.log.warn({ route: this.route, reason: (err as Error).message }, 'durable pull failed; retrying in 1 s');
        this.pauseUntil = Date.now() + PULL_RETRY_MS;
      })
      .finally(() => {
        this.pulls.delete(pull);
        this.poke();
      });
  }

  /** Commands asked of the queue and not handed over yet. */
  private asked(): number {
    let n = 0;
    for (const p of this.pulls) n += p.left;
    return n;
  }

  /** Room of every link together when nothing is in flight: the scale of a worthwhile pull. */
  private roomMax(): number {
    let n = 0;
    for (const l of this.links.values()) n += l.capacity() + l.inFlight;
    return n;
  }

  /** Sends one pulled command to the instance with the most room. */
  private dispatch(d: Delivery): void {
    if (d.deliveries > this.policy.maxDeliveries) {
      // Delivered its last time already with no verdict (the gateway went down meanwhile): dead-lettered, not delivered again.
      this.failed(d, new SluiceError('POISON_MESSAGE', `delivered ${d.deliveries - 1} times (durable.maxDeliveries ${this.policy.maxDeliveries}) without an acknowledgement`), undefined);
      return;
    }
    if (d.deliveries > 1) this.counters.redeliveries++;
    let best: DeliveryLink | undefined;
    let room = 0;
    for (const l of this.links.values()) {
      const c = l.capacity();
      if (c > room) {
        room = c;
        best = l;
      }
    }
    if (!best || this.closed) {
      // Demand went away while the pull was under way: straight back, without waiting.
      d.nack(0);
      return;
    }
    best.send(d);
  }

  private failed(d: Delivery, error: SluiceError, instance: Instance | undefined): void {
    if (this.closed && error.code === 'UNAVAILABLE') {
      d.nack(0);
      return;
    }
    if (d.deliveries < this.policy.maxDeliveries) {
      const delay = backoffDelay(d.deliveries - 1, { initialDelayMs: this.policy.backoffInitialMs, maxDelayMs: this.policy.backoffMaxMs, multiplier: 2 });
      this.log.debug({ route: this.route, id: d.id, deliveries: d.deliveries, code: error.code, instance: instance?.id, delayMs: delay }, 'durable command failed; redelivering');
      d.nack(delay);
      return;
    }
    const sink = this.deadLetter;
    if (!sink) {
      d.nack(this.policy.backoffMaxMs);
      return;
    }
    sink({ route: this.route, model: 'response', payload: d.payload, error, attempts: d.deliveries, firstFailedAt: d.enqueuedAt }).then(
      (id) => {
        this.counters.deadLettered++;
        this.log.warn({ route: this.route, id: d.id, deadLetter: id, deliveries: d.deliveries, code: error.code }, 'durable command dead-lettered after its last delivery');
        d.term();
      },
      (e: unknown) => {
        this.log.error({ route: this.route, id: d.id, reason: (e as Error).message }, 'durable command kept: the dead-letter queue refused it');
        d.nack(this.policy.backoffMaxMs);
      },
    );
  }
}

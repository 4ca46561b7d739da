/**
 * One forwarded interaction, from the requester's request to its last frame
 * either way, with the route's policies applied in order:
 *
 *   deadline timer ─▶ bulkhead slot (bounded wait) ─▶ pick instance
 *   (untried first, under its per-instance limit, breaker admits) ─▶ upstream
 *   ─▶ on failure before any item: retry elsewhere (idempotent routes, within
 *   attempts, budget and deadline) ─▶ final failure: dead-letter if the policy
 *   says so, then the coded error to the requester.
 *
 * This class owns the interaction's life (admission, deadline, retries, the
 * answer); each attempt on an instance is an UpstreamAttempt (its stream, its
 * demand bridges, its held items, its breaker verdict), the choices between
 * attempts come from the pure attempt policy (attempt-policy.ts), and the
 * dead-letter decision from src/deadletter/rules.ts.
 */
import { SluiceError } from '../errors.js';
import { MimeTypes, encodeComposite, encodeRoutes, type MetadataEntry } from '../protocol/metadata.js';
import type { Payload } from '../protocol/frames.js';
import type { InteractionModel, Stream, StreamHandler } from '../rsocket/stream.js';
import type { Logger } from '../observability/log.js';
import type { GatewayMetrics, RouteCounters } from '../observability/metrics.js';
import type { Release } from '../resilience/bulkhead.js';
import { DEADLINE_MIME, deadlineEntry } from '../resilience/deadline.js';
import { setLongTimeout } from '../resilience/long-timeout.js';
import type { PolicyRuntime, RouteRuntime } from '../policy/route-runtime.js';
import type { CacheTap } from '../policy/response-cache.js';
import { deadLetterable, type DeadLetterer } from '../deadletter/rules.js';
import { pickInstance, retryDelay } from './attempt-policy.js';
import { UpstreamAttempt, type AttemptEvents, type BridgeSettings } from './upstream-attempt.js';
import type { Tracer } from '../observability/tracing.js';
import { TRACE_CONTEXT_MIME, traceContextEntry } from '../protocol/trace-context.js';
import { streamMimeEntry } from '../protocol/stream-mime.js';
import { InteractionSpan } from './interaction-span.js';
import type { Instance, Registry } from './registry.js';

/** One forwarded interaction as metrics and the stats stream see it. */
export interface Interaction {
  readonly route: string;
  readonly model: InteractionModel;
  /** The instance serving the current attempt; undefined while waiting for a slot or a retry. */
  readonly instance: Instance | undefined;
  readonly startedAt: number;
  /** The requester's connection (the consumer of the responder's payloads), or its HTTP exchange, for stats. */
  readonly requester: Requester;
  demand(): { consumer: number; producer: number };
  /** Items (and their bytes) the gateway holds for the requester: sent by the producer ahead of the requester's demand. */
  held(): { items: number; bytes: number };
  /** Average size in bytes of the payloads passed to the requester so far (0 before the first). */
  averageItemBytes(): number;
}

/** What stats read of the requester's side: a Connection, or an HTTP bridge exchange. */
export interface Requester {
  readonly id: string;
  readonly bufferedBytes: number;
}

export type { DeadLetterSink } from '../deadletter/rules.js';

export interface ForwardingContext extends BridgeSettings {
  readonly registry: Registry;
  readonly metrics: GatewayMetrics;
  readonly policies: PolicyRuntime;
  readonly live: Set<Interaction>;
  readonly log: Logger;
  /** Stores and counts the requests that finally fail on dead-lettering routes. */
  readonly deadLetters: DeadLetterer;
  /** Spans per interaction when tracing is on; undefined costs nothing. */
  readonly tracer?: Tracer | undefined;
}

export interface ForwardingRequest {
  readonly route: string;
  readonly model: InteractionModel;
  readonly payload: Payload;
  /** The request's composite metadata entries, already decoded. */
  readonly entries: readonly MetadataEntry[];
  /** The requester's own deadline in ms, if it sent one. */
  readonly requesterDeadlineMs: number | undefined;
  /** Channel: the first payload is also the last. */
  readonly complete: boolean;
  /** Who the requester is (the Forwarder's `identityOf`), for its share of the route's bulkhead. */
  readonly identity: string;
  /** Request-response on a cached route: the answer is stored, and a stale one may stand in for the final failure. */
  readonly cache?: CacheTap;
  /**
   * The request's data MIME type when its metadata does not say it (no
   * per-stream entry): the requester's SETUP data MIME type. An instance
   * whose SETUP declared another one gets it as a per-stream entry.
   * Undefined when the request names its own (forwarded as it is).
   */
  readonly impliedDataMime?: string | undefined;
}

/**
 * Also the requester stream's handler and its attempts' event sink: one
 * object per interaction rather than a handler and event objects full of
 * closures (a gateway holding a million streams pays for every per-stream
 * allocation).
 */
/** The instances whose connection is open: the list itself when all are, as they nearly always are. */
function openOnly(instances: Instance[]): Instance[] {
  for (const i of instances) if (!i.connection.isOpen) return instances.filter((c) => c.connection.isOpen);
  return instances;
}

/** No instance tried yet (shared: pickInstance only reads it). */
const NONE_TRIED: ReadonlySet<Instance> = new Set();

/**
 * Bits of an interaction's `state`: what has happened so far. One small
 * integer rather than six boolean fields, each a word in every open stream.
 */
const EMITTED = 1;
const FIRST_OBSERVED = 2;
const FINISHED = 4;
const INPUT_COMPLETE = 8;
/** It holds its place in its requester identity's share of the route (admission to the end). */
const SHARE = 16;
/**
 * The deadline in force is the route policy's (the gateway's own judgement
 * of how long an instance may take) rather than one the requester chose
 * shorter. Only the policy's expiry counts against an instance: otherwise
 * any requester could open a route's breakers for everyone by sending 1 ms
 * deadlines.
 */
const POLICY_DEADLINE = 32;

/**
 * What only an interaction that queues for a bulkhead slot, fails an attempt
 * or falls back needs: made at the first such event, so an open stream that
 * did none of it carries one empty field instead of five.
 */
interface Contingency {
  /**
   * Aborts a wait for a bulkhead slot. Created only when a request has to
   * queue: aborting a controller builds a DOMException with a stack trace,
   * which cost about a tenth of the gateway's CPU on request-response when
   * every interaction made and aborted one.
   */
  waiting: AbortController | undefined;
  retryTimer: ReturnType<typeof setTimeout> | undefined;
  firstFailedAt: number;
  /** The failure that scheduled the pending retry: the answer if that retry finds no instance to go to. */
  retryCause: SluiceError | undefined;
  /** Set when every instance's breaker is open and the policy names a fallback route. */
  fallbackRoute: string | undefined;
}

/**
 * What an interaction keeps of its request once a stream or channel has
 * emitted (see dropRequestBytes): nothing. It is never read again, so every
 * such interaction shares this one.
 */
const SPENT_REQUEST: ForwardingRequest = Object.freeze({
  route: '',
  model: 'stream',
  payload: Object.freeze({ data: null, metadata: null }),
  entries: Object.freeze([]),
  requesterDeadlineMs: undefined,
  complete: true,
  identity: '',
});

export class Forwarding implements Interaction, StreamHandler, AttemptEvents {
  readonly startedAt = performance.now();
  readonly route: string;
  readonly model: InteractionModel;

  private readonly rt: RouteRuntime;
  private readonly counters: RouteCounters;
  private readonly deadlineMs: number | undefined;
  /** The attempt in progress; undefined while waiting for a slot or a retry, and at the end. */
  private current: UpstreamAttempt | undefined;
  private attempts = 0;
  /** Instances tried so far: most interactions make one attempt, so the set is made at the second. */
  private tried: Instance | Set<Instance> | undefined;
  /** The bits above (EMITTED, FINISHED, ...). */
  private state = 0;
  /** Queueing, retry and fallback state; undefined until one of them happens. */
  private rare: Contingency | undefined;
  /**
   * The route bulkhead slot held: true when taken by `tryEnter` (no release
   * function per interaction: open streams are many), a release function when
   * it came from a wait.
   */
  private slot: Release | true | undefined;
  private cancelDeadline: (() => void) | undefined;
  private lastAverageItemBytes = 0;
  /** This interaction's span, when tracing is on. */
  private readonly span: InteractionSpan | undefined;
  /** The requester's identity, whose share of the route this interaction holds until it finishes. */
  private readonly identity: string;

  constructor(
    private readonly ctx: ForwardingContext,
    private request: ForwardingRequest,
    private readonly down: Stream,
  ) {
    this.model = request.model;
    if (request.complete) this.state |= INPUT_COMPLETE;
    this.identity = request.identity;
    this.rt = ctx.policies.for(request.route);
    // The route's own name, not the one decoded from this request: a million open streams share one string.
    this.route = this.rt.route;
    this.counters = ctx.metrics.route(request.route);
    ctx.metrics.started(this.route, this.model);
    const policyDeadline = this.rt.policy.deadlineMs ?? undefined;
    // The shorter of the two (no array per request: this runs for every interaction).
    const requested = request.requesterDeadlineMs;
    this.deadlineMs = requested === undefined ? policyDeadline : policyDeadline === undefined ? requested : Math.min(requested, policyDeadline);
    // A requester deadline equal to the policy's gives the instance no less time than the gateway would: it is judged.
    if (policyDeadline !== undefined && (request.requesterDeadlineMs === undefined || policyDeadline <= request.requesterDeadlineMs)) this.state |= POLICY_DEADLINE;
    this.span = ctx.tracer ? new InteractionSpan(ctx.tracer, this.route, this.model, request.entries) : undefined;
    this.rt.budget.recordRequest();
    ctx.live.add(this);
    if (this.deadlineMs !== undefined) this.cancelDeadline = setLongTimeout(() => this.onDeadline(), this.deadlineMs);
    this.admit();
  }

  private get finished(): boolean {
    return (this.state & FINISHED) !== 0;
  }

  /** Channel: the requester has ended its input (possibly before any upstream exists to tell). */
  private get inputComplete(): boolean {
    return (this.state & INPUT_COMPLETE) !== 0;
  }

  private get fallbackRoute(): string | undefined {
    return this.rare?.fallbackRoute;
  }

  /** The runtime whose instance the current attempt holds: the fallback route's after a fallback (set only between attempts). */
  private get attemptRt(): RouteRuntime {
    const fallback = this.fallbackRoute;
    return fallback ? this.ctx.policies.for(fallback) : this.rt;
  }

  private contingency(): Contingency {
    return (this.rare ??= { waiting: undefined, retryTimer: undefined, firstFailedAt: 0, retryCause: undefined, fallbackRoute: undefined });
  }

  /** The requester stream's handler. */
  get handler(): StreamHandler {
    return this;
  }

  /** The instance serving the current attempt. */
  get instance(): Instance | undefined {
    return this.current?.instance;
  }

  get requester(): Requester {
    return this.down.host as unknown as Requester;
  }

  averageItemBytes(): number {
    return this.current?.requesterBridge?.averageItemBytes ?? this.lastAverageItemBytes;
  }

  demand(): { consumer: number; producer: number } {
    const b = this.current?.requesterBridge;
    if (!b) return { consumer: this.finished ? 0 : 1, producer: this.current?.opened && !this.finished ? 1 : 0 };
    return { consumer: Math.min(b.credit, 0x7fffffff), producer: b.inflight };
  }

  held(): { items: number; bytes: number } {
    return this.current?.held() ?? { items: 0, bytes: 0 };
  }

  // ------------------------------------------------------------------ admission

  private admit(): void {
    // The share first: an identity at its share must not take (or wait for) a slot others could use.
    if (this.rt.share.tryEnter(this.identity)) this.state |= SHARE;
    else {
      // Never dead-lettered: one client's excess must not fill the queue the others' failures need.
      const e = new SluiceError('OVERLOADED', `this client already has its share of ${this.rt.share.limit} concurrent interactions on route '${this.route}' (bulkhead.maxPerIdentity)`);
      this.fail(e, false);
      return;
    }
    if (this.rt.bulkhead.tryEnter()) {
      this.slot = true;
      this.attempt();
      return;
    }
    const { maxQueue, maxWaitMs } = this.rt.policy.bulkhead;
    if (maxQueue === 0) {
      // acquireNow() refuses as tryAcquire() did, but counts it (sluice_bulkhead_rejected_total) as a full queue is.
      try {
        this.slot = this.rt.bulkhead.acquireNow();
      } catch {
        this.fail(new SluiceError('OVERLOADED', `route '${this.route}' is at its limit of ${this.rt.policy.bulkhead.maxConcurrent} concurrent interactions`));
        return;
      }
      this.attempt();
      return;
    }
    const wait = Math.min(maxWaitMs, this.remainingMs() ?? maxWaitMs);
    const waiting = (this.contingency().waiting = new AbortController());
    this.rt.bulkhead.acquire(wait, waiting.signal).then(
      (release) => {
        if (this.finished) return release();
        this.slot = release;
        this.attempt();
      },
      (err: unknown) => {
        if (!this.finished) this.fail(SluiceError.from(err));
      },
    );
  }

  /** Picks an instance and opens the upstream stream; any failure to do so is an attempt failure. */
  private attempt(): void {
    if (this.finished) return;
    const picked = this.pick();
    if ('error' in picked) {
      // A retry with nowhere to go (the instance that failed was the last one) is not a new failure.
      this.fail(this.rare?.retryCause ?? picked.error);
      return;
    }
    const { instance, breaker } = picked;
    this.attempts++;
    if (this.tried === undefined) this.tried = instance;
    else if (this.tried instanceof Set) this.tried.add(instance);
    else this.tried = new Set([this.tried, instance]);
    instance.active++;
    this.attemptRt.enter(instance);
    const span = this.span;
    span?.attempt(instance);
    span?.wait(this.down.sendCredit > 0);
    const attempt = new UpstreamAttempt(instance, breaker, this.model, this.down, this.counters, this.ctx, this);
    this.current = attempt;
    attempt.open(this.forwardedPayload(instance), this.inputComplete);
  }

  /** The attempt policy's pick on the route, or on its fallback once every breaker of the route is open. */
  private pick(): ReturnType<typeof pickInstance> {
    const route = this.fallbackRoute ?? this.route;
    const rt = this.fallbackRoute ? this.ctx.policies.for(this.fallbackRoute) : this.rt;
    const picked = pickInstance({
      route,
      candidates: openOnly(this.ctx.registry.candidates(route)),
      tried: this.tried === undefined ? NONE_TRIED : this.tried instanceof Set ? this.tried : new Set([this.tried]),
      activeOn: rt.activeOnFn,
      maxPerInstance: rt.policy.bulkhead.maxConcurrentPerInstance,
      breaker: rt.breakerFn,
    });
    // A fallback nobody serves is no way out: the caller hears about the breakers of the route it called.
    if ('error' in picked && picked.allOpen && !this.fallbackRoute && this.rt.policy.fallback && this.ctx.registry.has(this.rt.policy.fallback)) {
      this.contingency().fallbackRoute = this.rt.policy.fallback;
      this.rt.counters.fallbacks++;
      return this.pick();
    }
    return picked;
  }

  /**
   * The request as sent upstream: the remaining deadline travels with it, a
   * fallback gets its own route, and with tracing on the instance's parent is
   * the gateway's span. Every other entry (per-stream MIME types included)
   * passes untouched.
   */
  private forwardedPayload(instance: Instance): Payload {
    const remaining = this.remainingMs();
    const implied = this.request.impliedDataMime;
    const mime = implied !== undefined && implied !== (instance.connection.setup?.dataMimeType ?? MimeTypes.JSON) ? streamMimeEntry(implied) : undefined;
    if (remaining === undefined && !this.fallbackRoute && !this.span && !mime) return this.request.payload;
    const entries: MetadataEntry[] = this.request.entries.filter(
      (e) => e.mimeType !== DEADLINE_MIME && !(this.fallbackRoute && e.mimeType === MimeTypes.ROUTING) && !(this.span && e.mimeType === TRACE_CONTEXT_MIME),
    );
    if (this.fallbackRoute) entries.unshift({ mimeType: MimeTypes.ROUTING, content: encodeRoutes(this.fallbackRoute) });
    if (remaining !== undefined) entries.push(deadlineEntry(Math.max(1, remaining)));
    if (this.span) entries.push(traceContextEntry(this.span.context));
    if (mime) entries.push(mime);
    return { data: this.request.payload.data, metadata: encodeComposite(entries) };
  }

  // ------------------------------------------------------------------ upstream

  /** @internal The current attempt's producer sent an item. */
  attemptItem(): void {
    if (!(this.state & EMITTED) && this.model !== 'response') this.dropRequestBytes();
    this.state |= EMITTED;
    this.observeFirst();
  }

  /**
   * A stream or channel that has emitted is never retried and never
   * dead-lettered (attempt-policy.ts, deadletter/rules.ts): its request's
   * payload and metadata entries are dead weight from here on, and views
   * into the socket read they arrived in at that, and the rest of the request
   * is never read again either (the identity is kept apart). A gateway
   * holding a million open streams would keep all of them.
   */
  private dropRequestBytes(): void {
    this.request = SPENT_REQUEST;
  }

  /** @internal Request-response on a cached route: the answer is stored as it goes to the requester. */
  attemptAnswer(item: Uint8Array | Payload): void {
    this.request.cache?.store(item);
  }

  /** @internal */
  attemptShed(reason: string): void {
    this.shed(reason);
  }

  /** @internal */
  attemptSettled(attempt: UpstreamAttempt): void {
    this.span?.wait(this.down.sendCredit > 0 && attempt.heldCount === 0);
    this.settle();
  }

  /** @internal */
  attemptDelivered(): void {
    this.span?.deliver();
  }

  /** `reached` is false when the request never left the gateway (the instance's connection refused the stream). */
  attemptFailed(attempt: UpstreamAttempt, e: SluiceError, reached: boolean): void {
    if (this.finished || attempt !== this.current) return;
    // An instance that gives up when the requester's own deadline (forwarded to it) passes honours
    // the request; that is no more its failure than the gateway's expiry of the same deadline.
    const requesterExpiry = e.code === 'DEADLINE_EXCEEDED' && this.deadlineMs !== undefined && !(this.state & POLICY_DEADLINE);
    if (reached && !requesterExpiry) attempt.judge(!this.rt.policy.breaker.failureCodes.includes(e.code));
    else attempt.unjudge();
    this.endAttempt();
    const rare = this.contingency();
    if (rare.firstFailedAt === 0) rare.firstFailedAt = Date.now();
    const delay = this.retryDelay(e);
    if (delay === undefined) {
      this.fail(e);
      return;
    }
    this.rt.counters.retries++;
    this.span?.idle();
    rare.retryCause = e;
    this.ctx.log.debug({ route: this.route, code: e.code, attempt: this.attempts, delay }, 'retrying on another instance');
    rare.retryTimer = setTimeout(() => this.attempt(), delay);
    rare.retryTimer.unref?.();
  }

  /** The attempt policy's backoff before another attempt; undefined when this failure is final. */
  private retryDelay(e: SluiceError): number | undefined {
    const verdict = retryDelay({
      model: this.model,
      code: e.code,
      emitted: (this.state & EMITTED) !== 0,
      idempotent: this.idempotent(),
      attempts: this.attempts,
      remainingMs: this.remainingMs(),
      retry: this.rt.policy.retry,
      budget: this.rt.budget,
    });
    if (verdict?.retry) return verdict.delayMs;
    if (verdict?.why === 'budget') this.rt.counters.retryBudgetExhausted++;
    return undefined;
  }

  private idempotent(): boolean {
    return this.rt.policy.idempotent ?? this.ctx.registry.declaration(this.route)?.idempotent ?? false;
  }

  // ------------------------------------------------------------------ requester

  /** @internal Channel only: one input payload from the requester. */
  onNext(payload: Payload, frame: Uint8Array | undefined): void {
    if (!this.current?.opened) return;
    this.current.input(payload, frame);
    this.settle();
  }

  /** @internal Before the upstream opens (bulkhead wait), the end of input is kept for the REQUEST_CHANNEL. */
  onComplete(): void {
    this.state |= INPUT_COMPLETE;
    this.current?.completeInput();
    this.settle();
  }

  /** @internal Before the upstream opens, demand accumulates in the requester stream's credit. */
  onRequest(n: number): void {
    if (!this.current?.opened) return;
    this.current.requesterDemand(n);
    this.span?.wait(this.down.sendCredit > 0 && this.current.heldCount === 0);
    this.settle();
  }

  /** @internal */
  onCancel(): void {
    this.current?.cancel();
    this.finish();
  }

  /** @internal The requester's connection went away, or it broke demand on a channel. */
  onError(error: SluiceError): void {
    if (error.code !== 'UNAVAILABLE') this.ctx.metrics.error(this.route, error.code);
    this.span?.fail(error);
    this.current?.cancel();
    this.finish();
  }

  // ------------------------------------------------------------------ endings

  private onDeadline(): void {
    if (this.finished) return;
    this.rt.counters.deadlineExceeded++;
    const attempt = this.current;
    attempt?.cancel();
    if (this.state & POLICY_DEADLINE) attempt?.judge(false);
    else attempt?.unjudge();
    this.endAttempt();
    this.fail(new SluiceError('DEADLINE_EXCEEDED', `deadline of ${this.deadlineMs} ms exceeded on route '${this.route}'`));
  }

  /**
   * The gateway memory budget chose this stream's held items to free: the
   * producer is cancelled and the requester told OVERLOADED. The gateway's
   * own refusal, so the instance's breaker does not judge it.
   */
  private shed(reason: string): void {
    if (this.finished) return;
    this.current?.cancel();
    this.current?.unjudge();
    this.endAttempt();
    this.fail(new SluiceError('OVERLOADED', reason));
  }

  /** The final failure: dead-letter it if the rules say so (and `mayLetter` allows), then tell the requester. */
  private fail(error: SluiceError, mayLetter = true): void {
    if (this.finished) return;
    // A cached route's stale answer stands in for an instance-side failure (response-cache.ts decides which).
    const stale = mayLetter ? this.request.cache?.stale(error) : undefined;
    if (stale) {
      this.counters.toRequester++;
      this.down.next(stale, true);
      this.finish();
      return;
    }
    this.ctx.metrics.error(this.route, error.code);
    this.span?.fail(error);
    const letters = this.ctx.deadLetters;
    const letterable = mayLetter && letters.enabled && this.model !== 'fnf' && deadLetterable({ at: 'failed', model: this.model }, error.code, this.rt.policy);
    if (!letterable) {
      this.down.error(error);
      this.finish();
      return;
    }
    // Everything the attempt held goes back now; the interaction stays live (a drain waits for it)
    // until the requester has its answer.
    this.finish(false);
    const letter = { route: this.route, model: 'response' as const, payload: this.request.payload, error, attempts: this.attempts, firstFailedAt: this.rare?.firstFailedAt || Date.now() };
    void letters.letterThenAnswer(letter, this.down).finally(() => this.ctx.live.delete(this));
  }

  /** Ends the current attempt: its instance, route slot, bridges and held items go back. */
  private endAttempt(): void {
    const attempt = this.current;
    if (!attempt) return;
    this.current = undefined;
    attempt.instance.active--;
    this.attemptRt.leave(attempt.instance);
    const average = attempt.requesterBridge?.averageItemBytes;
    attempt.end();
    if (average !== undefined) this.lastAverageItemBytes = average;
  }

  private observeFirst(): void {
    if (this.state & FIRST_OBSERVED) return;
    this.state |= FIRST_OBSERVED;
    this.ctx.metrics.observe(this.route, this.model, (performance.now() - this.startedAt) / 1000);
  }

  private settle(): void {
    if (this.current?.closed && this.down.closed) this.finish();
  }

  /** Ends the interaction and gives back what it holds; `answered` false keeps it live until the requester hears. */
  private finish(answered = true): void {
    if (this.finished) return;
    this.state |= FINISHED;
    this.observeFirst();
    this.cancelDeadline?.();
    clearTimeout(this.rare?.retryTimer);
    this.rare?.waiting?.abort();
    // A call admitted by its breaker and ended by the requester is neither a success nor a failure.
    this.current?.unjudge();
    this.endAttempt();
    if (this.slot === true) this.rt.bulkhead.leave();
    else this.slot?.();
    this.slot = undefined;
    if (this.state & SHARE) this.rt.share.leave(this.identity);
    this.state &= ~SHARE;
    this.span?.end(this.down.totalRequested);
    if (answered) this.ctx.live.delete(this);
  }

  private remainingMs(): number | undefined {
    if (this.deadlineMs === undefined) return undefined;
    return Math.max(0, Math.ceil(this.deadlineMs - (performance.now() - this.startedAt)));
  }
}

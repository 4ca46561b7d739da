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
 * Demand crosses the hop through one DemandBridge per direction; payload
 * frames pass with only their stream id rewritten.
 */
import { SluiceError, type ErrorCode } from '../errors.js';
import { DemandBridge } from '../flow/demand-bridge.js';
import type { PrefetchBudget } from '../flow/prefetch-budget.js';
import type { MemoryBudget } from '../rsocket/memory-budget.js';
import { MimeTypes, encodeComposite, encodeRoutes, type MetadataEntry } from '../protocol/metadata.js';
import type { Payload } from '../protocol/frames.js';
import type { InteractionModel, Stream, StreamHandler } from '../rsocket/stream.js';
import type { Logger } from '../observability/log.js';
import type { GatewayMetrics, RouteCounters } from '../observability/metrics.js';
import type { CircuitBreaker } from '../resilience/circuit-breaker.js';
import type { Release } from '../resilience/bulkhead.js';
import { DEADLINE_MIME, deadlineEntry } from '../resilience/deadline.js';
import { backoffDelay } from '../resilience/backoff.js';
import { setLongTimeout } from '../resilience/long-timeout.js';
import type { PolicyRuntime, RouteRuntime } from '../policy/route-runtime.js';
import type { CacheTap } from '../policy/response-cache.js';
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

/** Stores a request that finally failed; resolves with its dead-letter id, or rejects (queue full). */
export type DeadLetterSink = (letter: { route: string; model: 'response' | 'fnf'; payload: Payload; error: SluiceError; attempts: number; firstFailedAt: number }) => Promise<string>;

export interface ForwardingContext {
  readonly registry: Registry;
  readonly metrics: GatewayMetrics;
  readonly policies: PolicyRuntime;
  readonly window: number;
  readonly windowBytes: number;
  /** Items asked of a producer beyond its consumer's demand, per stream (the responder's output only). */
  readonly prefetch: number;
  readonly prefetchBudget: PrefetchBudget | undefined;
  /** Largest payload a producer may send, in bytes: sizes a stream's window before its first item. */
  readonly maxItemBytes: number | undefined;
  /** Gateway-wide bound on bytes held for peers; each stream's held items report to it. */
  readonly memory: MemoryBudget | undefined;
  readonly live: Set<Interaction>;
  readonly log: Logger;
  readonly deadLetter: DeadLetterSink | undefined;
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
}

/** Errors that may be dead-lettered, beyond the route's retryable codes. */
const DEAD_LETTERABLE: ReadonlySet<ErrorCode> = new Set(['POISON_MESSAGE', 'NO_ROUTE', 'CIRCUIT_OPEN', 'DEADLINE_EXCEEDED']);

export class Forwarding implements Interaction {
  readonly startedAt = performance.now();
  readonly handler: StreamHandler;
  readonly route: string;
  readonly model: InteractionModel;
  instance: Instance | undefined;

  private readonly rt: RouteRuntime;
  /** The runtime whose instance the current attempt holds (the fallback route's, after a fallback). */
  private attemptRt: RouteRuntime;
  private readonly counters: RouteCounters;
  private readonly deadlineMs: number | undefined;
  /**
   * Whether the deadline in force is the route policy's (the gateway's own
   * judgement of how long an instance may take) rather than one the
   * requester chose shorter. Only the policy's expiry counts against an
   * instance: otherwise any requester could open a route's breakers for
   * everyone by sending 1 ms deadlines.
   */
  private readonly policyDeadline: boolean;
  private up: Stream | undefined;
  private toRequester: DemandBridge | undefined;
  private toResponder: DemandBridge | undefined;
  private breaker: CircuitBreaker | undefined;
  private judged = true;
  private attemptStartedAt = 0;
  private attempts = 0;
  private readonly tried = new Set<Instance>();
  private emitted = false;
  private firstObserved = false;
  private slot: Release | undefined;
  /** This interaction's place in its requester identity's share of the route, held from admission to the end. */
  private share: Release | undefined;
  /**
   * Aborts a wait for a bulkhead slot. Created only when a request has to
   * queue: aborting a controller builds a DOMException with a stack trace,
   * which cost about a tenth of the gateway's CPU on request-response when
   * every interaction made and aborted one.
   */
  private waiting: AbortController | undefined;
  private cancelDeadline: (() => void) | undefined;
  private retryTimer: ReturnType<typeof setTimeout> | undefined;
  private firstFailedAt = 0;
  /** The failure that scheduled the pending retry: the answer if that retry finds no instance to go to. */
  private retryCause: SluiceError | undefined;
  private finished = false;
  /** Set when every instance's breaker is open and the policy names a fallback route. */
  private fallbackRoute: string | undefined;
  private lastAverageItemBytes = 0;
  /** Channel: the requester has ended its input (possibly before any upstream exists to tell). */
  private inputComplete: boolean;
  /** The producer's payloads sent ahead of the requester's demand, oldest first (at most the window). */
  private readonly heldItems: (Uint8Array | Payload)[] = [];
  /** The producer's completion, waiting until the held items are delivered. */
  private heldEnd: (() => void) | undefined;

  constructor(
    private readonly ctx: ForwardingContext,
    private readonly request: ForwardingRequest,
    private readonly down: Stream,
  ) {
    this.route = request.route;
    this.model = request.model;
    this.inputComplete = request.complete;
    this.rt = ctx.policies.for(request.route);
    this.attemptRt = this.rt;
    this.counters = ctx.metrics.route(request.route);
    ctx.metrics.started(this.route, this.model);
    const policyDeadline = this.rt.policy.deadlineMs ?? undefined;
    const d = [request.requesterDeadlineMs, policyDeadline].filter((x): x is number => x !== undefined);
    this.deadlineMs = d.length ? Math.min(...d) : undefined;
    // A requester deadline equal to the policy's gives the instance no less time than the gateway would: it is judged.
    this.policyDeadline = policyDeadline !== undefined && (request.requesterDeadlineMs === undefined || policyDeadline <= request.requesterDeadlineMs);
    this.handler = this.downHandler();
    this.rt.budget.recordRequest();
    ctx.live.add(this);
    if (this.deadlineMs !== undefined) this.cancelDeadline = setLongTimeout(() => this.onDeadline(), this.deadlineMs);
    this.admit();
  }

  get requester(): Requester {
    return this.down.host as unknown as Requester;
  }

  averageItemBytes(): number {
    return this.toRequester?.averageItemBytes ?? this.lastAverageItemBytes;
  }

  demand(): { consumer: number; producer: number } {
    const b = this.toRequester;
    if (!b) return { consumer: this.finished ? 0 : 1, producer: this.up && !this.finished ? 1 : 0 };
    return { consumer: Math.min(b.credit, 0x7fffffff), producer: b.inflight };
  }

  held(): { items: number; bytes: number } {
    const b = this.toRequester;
    return b ? { items: b.held, bytes: b.heldBytes } : { items: 0, bytes: 0 };
  }

  // ------------------------------------------------------------------ admission

  private admit(): void {
    // The share first: an identity at its share must not take (or wait for) a slot others could use.
    this.share = this.rt.share.tryTake(this.request.identity);
    if (!this.share) {
      // Never dead-lettered: one client's excess must not fill the queue the others' failures need.
      const e = new SluiceError('OVERLOADED', `this client already has its share of ${this.rt.share.limit} concurrent interactions on route '${this.route}' (bulkhead.maxPerIdentity)`);
      this.fail(e, false);
      return;
    }
    const slot = this.rt.bulkhead.tryAcquire();
    if (slot) {
      this.slot = slot;
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
    this.waiting = new AbortController();
    this.rt.bulkhead.acquire(wait, this.waiting.signal).then(
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
    let instance: Instance;
    try {
      ({ instance, breaker: this.breaker } = this.choose());
    } catch (err) {
      // A retry with nowhere to go (the instance that failed was the last one) is not a new failure.
      this.fail(this.retryCause ?? SluiceError.from(err));
      return;
    }
    this.instance = instance;
    this.judged = this.breaker === undefined;
    this.attempts++;
    this.tried.add(instance);
    instance.active++;
    this.attemptRt = this.fallbackRoute ? this.ctx.policies.for(this.fallbackRoute) : this.rt;
    this.attemptRt.enter(instance);
    this.attemptStartedAt = performance.now();
    const upConn = instance.connection;
    const downConn = this.down.host;
    const upHandler = this.upHandler(instance);
    try {
      const payload = this.forwardedPayload();
      if (this.model === 'response') {
        this.up = upConn.requestResponse(payload, upHandler);
        return;
      }
      this.toRequester = new DemandBridge({
        window: this.ctx.window,
        windowBytes: this.ctx.windowBytes,
        prefetch: this.ctx.prefetch,
        ...(this.ctx.prefetchBudget ? { budget: this.ctx.prefetchBudget } : {}),
        ...(this.ctx.maxItemBytes ? { maxItemBytes: this.ctx.maxItemBytes } : {}),
        ...(this.ctx.memory ? { memory: this.ctx.memory.holder('prefetch', { shed: (reason) => this.shed(reason) }) } : {}),
        requestUpstream: (n) => this.up?.request(n),
        writable: () => downConn.writable,
        whenWritable: (fn) => downConn.whenWritable(fn),
      });
      const initial = this.toRequester.open(this.down.sendCredit);
      if (this.model === 'stream') {
        this.up = upConn.requestStream(payload, initial, upHandler);
        return;
      }
      this.toResponder = new DemandBridge({
        window: this.ctx.window,
        windowBytes: this.ctx.windowBytes,
        ...(this.ctx.maxItemBytes ? { maxItemBytes: this.ctx.maxItemBytes } : {}),
        requestUpstream: (n) => this.down.request(n),
        writable: () => upConn.writable,
        whenWritable: (fn) => upConn.whenWritable(fn),
      });
      this.up = upConn.requestChannel(payload, initial, this.inputComplete, upHandler);
    } catch (err) {
      // The instance's connection refused the stream (closed, or at its stream limit), or the
      // request could not be written: an attempt failure either way, never an exception escaping
      // into a timer or promise callback (that would take the process down). The instance never
      // saw the request, so its breaker does not judge it.
      this.onUpstreamError(instance, SluiceError.from(err), false);
    }
  }

  /**
   * Untried instances first (a retry goes elsewhere where possible), then
   * those under their per-instance limit, least loaded first; the first whose
   * breaker admits the call wins.
   */
  private choose(): { instance: Instance; breaker: CircuitBreaker | undefined } {
    const route = this.fallbackRoute ?? this.route;
    const rt = this.fallbackRoute ? this.ctx.policies.for(this.fallbackRoute) : this.rt;
    const all = this.ctx.registry.candidates(route).filter((i) => i.connection.isOpen);
    if (all.length === 0) throw new SluiceError('NO_ROUTE', `no instance serves route '${route}'`);
    const untried = all.filter((i) => !this.tried.has(i));
    const pool = (untried.length ? untried : all).filter((i) => rt.activeOn(i) < rt.policy.bulkhead.maxConcurrentPerInstance);
    if (pool.length === 0) {
      throw new SluiceError('OVERLOADED', `every instance of route '${route}' is at its limit of ${rt.policy.bulkhead.maxConcurrentPerInstance} concurrent interactions`);
    }
    // Instances that keep up with reading first, then the least loaded: a slow reader gets work only when nobody else can take it.
    pool.sort((a, b) => Number(b.connection.writable) - Number(a.connection.writable) || a.active - b.active);
    for (const instance of pool) {
      const breaker = rt.breaker(instance);
      if (!breaker || breaker.tryAcquire()) return { instance, breaker };
    }
    // A fallback nobody serves is no way out: the caller hears about the breakers of the route it called.
    if (!this.fallbackRoute && this.rt.policy.fallback && this.ctx.registry.has(this.rt.policy.fallback)) {
      this.fallbackRoute = this.rt.policy.fallback;
      this.rt.counters.fallbacks++;
      return this.choose();
    }
    const retryAfter = Math.min(...pool.map((i) => rt.breaker(i)?.remainingOpenMs() ?? 0));
    throw new SluiceError('CIRCUIT_OPEN', `circuit open for route '${route}' on every instance; retry after ${Math.max(1, Math.ceil(retryAfter))} ms`, {
      details: { retryAfterMs: Math.ceil(retryAfter) },
    });
  }

  /** The request as sent upstream: the remaining deadline travels with it, and a fallback gets its own route. */
  private forwardedPayload(): Payload {
    const remaining = this.remainingMs();
    if (remaining === undefined && !this.fallbackRoute) return this.request.payload;
    const entries: MetadataEntry[] = this.request.entries.filter((e) => e.mimeType !== DEADLINE_MIME && !(this.fallbackRoute && e.mimeType === MimeTypes.ROUTING));
    if (this.fallbackRoute) entries.unshift({ mimeType: MimeTypes.ROUTING, content: encodeRoutes(this.fallbackRoute) });
    if (remaining !== undefined) entries.push(deadlineEntry(Math.max(1, remaining)));
    return { data: this.request.payload.data, metadata: encodeComposite(entries) };
  }

  // ------------------------------------------------------------------ upstream

  private upHandler(instance: Instance): StreamHandler {
    return {
      onNext: (payload, frame) => {
        this.judge(true);
        this.emitted = true;
        this.observeFirst();
        const bridge = this.toRequester;
        if (!bridge) this.answer(frame ?? payload);
        else if (bridge.arrive(frame?.length ?? size(payload))) this.sendDown(frame ?? payload);
        // The frame may be a view into a larger socket read: a copy holds only its own bytes.
        else this.heldItems.push(frame ? new Uint8Array(frame) : payload);
        this.settle();
      },
      onComplete: () => {
        this.judge(true);
        if (this.heldItems.length) {
          this.heldEnd = () => this.down.complete();
          return;
        }
        this.down.complete();
        this.settle();
      },
      // At once, whatever is held: an error needs no demand, and the held items were asked for by
      // the gateway, not the requester (without the hop the producer would not have sent them yet).
      onError: (error) => this.onUpstreamError(instance, error),
      // Channel only: the instance grants the requester more input.
      onRequest: (n) => this.toResponder?.onRequest(n),
      // Channel only: the instance wants no more input.
      onCancel: () => {
        this.down.cancel();
        this.settle();
      },
    };
  }

  /** Sends one payload from the producer to the requester; returns its size in bytes. */
  private sendDown(item: Uint8Array | Payload): number {
    this.counters.toRequester++;
    if (item instanceof Uint8Array) {
      this.down.forward(item);
      return item.length;
    }
    this.down.next(item, this.model === 'response');
    return size(item);
  }

  /** Request-response: the answer goes to the cache (when the route caches) and to the requester. */
  private answer(item: Uint8Array | Payload): void {
    this.request.cache?.store(item);
    this.sendDown(item);
  }

  /** The requester asked for `n` more: held items first, then the rest of the demand upstream. */
  private onRequesterDemand(n: number): void {
    this.toRequester?.onRequest(n, () => this.sendDown(this.heldItems.shift()!));
    if (this.heldItems.length === 0 && this.heldEnd) {
      const end = this.heldEnd;
      this.heldEnd = undefined;
      end();
    }
    this.settle();
  }

  /** `reached` is false when the request never left the gateway (the instance's connection refused the stream). */
  private onUpstreamError(instance: Instance, error: SluiceError, reached = true): void {
    if (this.finished) return;
    const e = describeUpstreamError(instance, error);
    // An instance that gives up when the requester's own deadline (forwarded to it) passes honours
    // the request; that is no more its failure than the gateway's expiry of the same deadline.
    const requesterExpiry = e.code === 'DEADLINE_EXCEEDED' && this.deadlineMs !== undefined && !this.policyDeadline;
    if (reached && !requesterExpiry) this.judge(!this.rt.policy.breaker.failureCodes.includes(e.code));
    else this.unjudge();
    this.endAttempt();
    if (this.firstFailedAt === 0) this.firstFailedAt = Date.now();
    const delay = this.retryDelay(e);
    if (delay === undefined) {
      this.fail(e);
      return;
    }
    this.rt.counters.retries++;
    this.retryCause = e;
    this.ctx.log.debug({ route: this.route, code: e.code, attempt: this.attempts, delay }, 'retrying on another instance');
    this.retryTimer = setTimeout(() => this.attempt(), delay);
    this.retryTimer.unref?.();
  }

  /** The backoff before another attempt, or undefined when this failure is final. */
  private retryDelay(e: SluiceError): number | undefined {
    const retry = this.rt.policy.retry;
    if (this.emitted || this.model === 'channel' || !this.idempotent()) return undefined;
    if (!retry.retryOn.includes(e.code) || this.attempts >= retry.maxAttempts) return undefined;
    const delay = backoffDelay(this.attempts - 1, retry);
    const remaining = this.remainingMs();
    if (remaining !== undefined && remaining <= delay) return undefined;
    if (!this.rt.budget.tryWithdraw()) {
      this.rt.counters.retryBudgetExhausted++;
      return undefined;
    }
    return delay;
  }

  private idempotent(): boolean {
    return this.rt.policy.idempotent ?? this.ctx.registry.declaration(this.route)?.idempotent ?? false;
  }

  // ------------------------------------------------------------------ requester

  private downHandler(): StreamHandler {
    return {
      // Channel only: one input payload from the requester.
      onNext: (payload, frame) => {
        if (!this.up) return;
        this.counters.toResponder++;
        if (frame) this.up.forward(frame);
        else this.up.next(payload);
        this.toResponder?.onItem(frame?.length ?? size(payload));
        this.settle();
      },
      // Before the upstream opens (bulkhead wait), the end of input is kept for the REQUEST_CHANNEL.
      onComplete: () => {
        this.inputComplete = true;
        this.up?.complete();
        this.settle();
      },
      // Before the upstream opens, demand accumulates in the requester stream's credit.
      onRequest: (n) => {
        if (this.up) this.onRequesterDemand(n);
      },
      onCancel: () => {
        this.up?.cancel();
        this.finish();
      },
      // The requester's connection went away, or it broke demand on a channel.
      onError: (error) => {
        if (error.code !== 'UNAVAILABLE') this.ctx.metrics.error(this.route, error.code);
        this.up?.cancel();
        this.finish();
      },
    };
  }

  // ------------------------------------------------------------------ endings

  private onDeadline(): void {
    if (this.finished) return;
    this.rt.counters.deadlineExceeded++;
    if (this.up && !this.up.closed) this.up.cancel();
    if (this.policyDeadline) this.judge(false);
    else this.unjudge();
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
    if (this.up && !this.up.closed) this.up.cancel();
    this.unjudge();
    this.endAttempt();
    this.fail(new SluiceError('OVERLOADED', reason));
  }

  /** The final failure: dead-letter it if the policy says so (and `mayLetter` allows), then tell the requester. */
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
    const sink = this.ctx.deadLetter;
    const letterable = mayLetter && this.rt.policy.deadLetter && this.model === 'response' && sink && (DEAD_LETTERABLE.has(error.code) || this.rt.policy.retry.retryOn.includes(error.code));
    if (!letterable) {
      this.down.error(error);
      this.finish();
      return;
    }
    // Everything the attempt held goes back now; the interaction stays live (a drain waits for it)
    // until the requester has its answer.
    this.finish(false);
    const letter = { route: this.route, model: 'response' as const, payload: this.request.payload, error, attempts: this.attempts, firstFailedAt: this.firstFailedAt || Date.now() };
    void deadLetterThenAnswer(sink, letter, this.down, this.ctx.log)
      .then((stored) => {
        if (stored) this.rt.counters.deadLettered++;
      })
      .finally(() => this.ctx.live.delete(this));
  }

  /** The attempt ends unjudged: it frees a half-open probe slot without counting as a success or failure. */
  private unjudge(): void {
    if (this.judged) return;
    this.judged = true;
    this.breaker?.release();
  }

  /** Records the outcome of the current attempt in its breaker, once. */
  private judge(success: boolean): void {
    if (this.judged || !this.breaker) return;
    this.judged = true;
    const duration = performance.now() - this.attemptStartedAt;
    if (success) this.breaker.onSuccess(duration);
    else this.breaker.onFailure(duration);
  }

  private endAttempt(): void {
    const instance = this.instance;
    if (!instance) return;
    this.instance = undefined;
    instance.active--;
    this.attemptRt.leave(instance);
    this.lastAverageItemBytes = this.toRequester?.averageItemBytes ?? this.lastAverageItemBytes;
    this.toRequester?.stop();
    this.toResponder?.stop();
    this.heldItems.length = 0;
    this.heldEnd = undefined;
    this.toRequester = undefined;
    this.toResponder = undefined;
    this.up = undefined;
  }

  private observeFirst(): void {
    if (this.firstObserved) return;
    this.firstObserved = true;
    this.ctx.metrics.observe(this.route, this.model, (performance.now() - this.startedAt) / 1000);
  }

  private settle(): void {
    if (this.up?.closed && this.down.closed) this.finish();
  }

  /** Ends the interaction and gives back what it holds; `answered` false keeps it live until the requester hears. */
  private finish(answered = true): void {
    if (this.finished) return;
    this.finished = true;
    this.observeFirst();
    this.cancelDeadline?.();
    clearTimeout(this.retryTimer);
    this.waiting?.abort();
    // A call admitted by its breaker and ended by the requester is neither a success nor a failure.
    this.unjudge();
    this.endAttempt();
    this.slot?.();
    this.slot = undefined;
    this.share?.();
    this.share = undefined;
    if (answered) this.ctx.live.delete(this);
  }

  private remainingMs(): number | undefined {
    if (this.deadlineMs === undefined) return undefined;
    return Math.max(0, Math.ceil(this.deadlineMs - (performance.now() - this.startedAt)));
  }
}

function size(p: Payload): number {
  return (p.data?.length ?? 0) + (p.metadata?.length ?? 0);
}

/** What the requester is told about an instance's failure: its disconnect or demand violation named, not the gateway's stream. */
function describeUpstreamError(instance: Instance, error: SluiceError): SluiceError {
  const who = `instance '${instance.id}' of service '${instance.service}'`;
  if (error.code === 'UNAVAILABLE' && !instance.connection.isOpen) return new SluiceError('UNAVAILABLE', `${who} disconnected`);
  if (error.code === 'DEMAND_EXCEEDED') return new SluiceError('INTERNAL', `${who} sent more payloads than were requested of it`, { cause: error });
  return error;
}

/**
 * Stores a finally failed request in the dead-letter queue, then answers the
 * requester with the error naming the entry (or saying why it was not
 * stored). Resolves with whether it was stored.
 */
export function deadLetterThenAnswer(sink: DeadLetterSink, letter: Parameters<DeadLetterSink>[0], down: Stream, log: Logger): Promise<boolean> {
  const { error, route } = letter;
  return sink(letter).then(
    (id) => {
      down.error(new SluiceError(error.code, `${error.message} (dead-lettered as ${id})`, { details: { deadLetterId: id } }));
      return true;
    },
    (err: unknown) => {
      log.error({ route, code: error.code, reason: (err as Error).message }, 'dead-letter refused');
      down.error(new SluiceError(error.code, `${error.message} (not dead-lettered: ${(err as Error).message})`));
      return false;
    },
  );
}

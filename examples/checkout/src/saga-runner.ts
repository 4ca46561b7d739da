/**
 * Runs checkout sagas: performs each state's step through the gateway,
 * retries it with backoff, and commits the resulting transition (saga.ts).
 *
 * Delivery: each step is delivered at least once (a retry or a restart
 * re-sends it whenever the answer was not committed) and every step handler
 * is idempotent per order id, so effects happen once.
 *
 * Non-blocking: a saga waiting on a reply, a backoff or an open breaker is a
 * record and a pending promise, not a slot. What is bounded is what a
 * dependency is asked to do: the calls in flight toward payment and toward
 * inventory each follow an adaptive limit (resilience/adaptive-limit.ts)
 * sized from that dependency's measured latency and error rate, so a slow
 * inventory holds as many calls as it answers in time, and a saga bound for
 * payment never waits behind sagas waiting on inventory. (Holding a fixed
 * number of sagas through their 2 s calls capped checkout at that number
 * divided by the latency: 32 sagas, 16 orders/s.)
 *
 * Bounded memory: at most `maxSagas` sagas are in memory. Past it, new sagas
 * wait in the store (`dueSagas`), read when room frees, on the sweep timer,
 * and on start, when every non-terminal saga is due, so a restarted order
 * service resumes where the last one stopped.
 */
import { SluiceError } from 'sluice';
import type { Logger } from 'sluice';
import { AdaptiveLimit, nextRetry, type RetrySchedule } from 'sluice';
import type { OrderOptions } from './config.js';
import { StopHooks } from './stop-hooks.js';
import type { OrderEvent, OrderLine } from './events.js';
import type { OrderStore } from './order-store.js';
import { advance, isCompensation, stepFor, TERMINAL_STATES, type Saga, type SagaStep, type StepOutcome } from './saga.js';
import { emptyPhases, SagaTimeline, type SagaPhases, type TimelineSnapshot } from './saga-timeline.js';

/** How the runner reaches the other services (the order service's gateway connection). */
export interface StepCaller {
  /** One attempt of a step; `deadlineMs` is its deadline, `signal` aborts it (deadline or shutdown). */
  call(route: SagaStep, data: unknown, deadlineMs: number, signal: AbortSignal): Promise<unknown>;
  readonly connected: boolean;
  /** Resolves once connected to the gateway again; rejects when `signal` aborts. */
  whenConnected(signal: AbortSignal): Promise<void>;
}

export type SagaRunnerOptions = Pick<OrderOptions, 'maxSagas' | 'stepDeadlineMs' | 'stepAttempts' | 'stepDeferrals' | 'retryInitialDelayMs' | 'retryMaxDelayMs' | 'compensationRetryMs'> &
  Partial<Pick<OrderOptions, 'maxStepCalls' | 'initialStepCalls'>> & {
    /** How often due sagas are looked for even without a kick (parked ones come back this way), in ms. Default 1000. */
    sweepIntervalMs?: number;
  };

/** The services the saga calls; each has its own adaptive call limit. */
export type Dependency = 'payment' | 'inventory';

/** What `orders.stats` reports about one dependency's call limit. */
export interface DependencyStats {
  readonly limit: number;
  readonly inFlight: number;
  readonly queued: number;
  /** Long-run average latency of answered calls, ms. */
  readonly latencyMs: number;
  readonly errorRate: number;
}

type StepResult = StepOutcome | 'stopped' | 'parked';

/** The floor of each dependency's call limit (see the constructor). */
const MIN_STEP_CALLS = 8;

/** A saga in memory: what the store holds, plus where its time went. */
interface Running {
  readonly phases: SagaPhases;
  /** When its order was placed (performance.now()), if placed in this process. */
  readonly placedAt: number | undefined;
}

export function dependencyOf(step: SagaStep): Dependency {
  return step.startsWith('payment.') ? 'payment' : 'inventory';
}

export class SagaRunner {
  private readonly running = new Map<string, Promise<void>>();
  private readonly stop = new AbortController();
  /** What ends with the runner: every step call, backoff and wait for a permit in progress (one listener on `stop`). */
  private readonly onStop = new StopHooks(this.stop.signal);
  /** Sluice's retry rule over the step attempts (nextRetry): full-jitter backoff, doubling. */
  private readonly retries: RetrySchedule;
  /** The same backoff for refusals waited out, which spend no attempt (bounded by stepDeferrals instead). */
  private readonly deferralBackoff: RetrySchedule;
  private readonly limits: Record<Dependency, AdaptiveLimit>;
  private readonly timeline = new SagaTimeline();
  private filling = false;
  private again = false;
  /** The store may hold due sagas that are not in memory (true at start, and whenever an offer found no room). */
  private backlog = true;
  private highWater = 0;
  private deferralCount = 0;
  private failedAttemptCount = 0;
  private sweep: ReturnType<typeof setInterval> | undefined;

  constructor(
    private readonly store: OrderStore,
    private readonly caller: StepCaller,
    private readonly options: SagaRunnerOptions,
    private readonly onEvents: (orderId: string, events: readonly OrderEvent[]) => void,
    private readonly log: Logger,
  ) {
    const backoff = { initialDelayMs: options.retryInitialDelayMs, maxDelayMs: options.retryMaxDelayMs, multiplier: 2 };
    this.retries = { ...backoff, maxAttempts: options.stepAttempts };
    this.deferralBackoff = { ...backoff, maxAttempts: Infinity };
    const maxLimit = options.maxStepCalls ?? 1_024;
    const initialLimit = Math.min(options.initialStepCalls ?? 20, maxLimit);
    // Never fewer than 8 calls at once (or the start, if lower): below that the hop's own round trip, not the
    // dependency, caps throughput, and a moment of timeouts would starve every saga behind one permit.
    const minLimit = Math.min(MIN_STEP_CALLS, initialLimit);
    const limit = () => new AdaptiveLimit({ initialLimit, minLimit, maxLimit, maxQueue: options.maxSagas });
    this.limits = { payment: limit(), inventory: limit() };
  }

  /** Waits in progress that end when the runner stops (step calls, backoffs, waits for a permit or the gateway). */
  get waits(): number {
    return this.onStop.size;
  }

  /** Sagas in memory now. */
  get active(): number {
    return this.running.size;
  }

  /** Most sagas ever in memory at once. */
  get max(): number {
    return this.highWater;
  }

  /**
   * Since start: step calls refused by the gateway and waited out without
   * spending an attempt (`deferrals`), and failed attempts (`failedAttempts`,
   * each followed by a backoff or by giving up).
   */
  get counts(): { readonly deferrals: number; readonly failedAttempts: number } {
    return { deferrals: this.deferralCount, failedAttempts: this.failedAttemptCount };
  }

  /** Each dependency's call limit now. */
  dependencies(): Record<Dependency, DependencyStats> {
    const stats = (l: AdaptiveLimit): DependencyStats => ({ limit: l.limit, inFlight: l.inFlight, queued: l.queued, latencyMs: Math.round(l.latencyMs), errorRate: Number(l.recentErrorRate.toFixed(3)) });
    return { payment: stats(this.limits.payment), inventory: stats(this.limits.inventory) };
  }

  /** Average time per phase of the sagas that ended in this process. */
  phases(): TimelineSnapshot {
    return this.timeline.snapshot();
  }

  /** Resumes every non-terminal saga in the store and keeps looking for due ones. */
  start(): void {
    this.sweep = setInterval(() => {
      // Parked sagas come back by time, not by any event: look at the store on every sweep.
      this.backlog = true;
      this.kick();
    }, this.options.sweepIntervalMs ?? 1_000);
    this.sweep.unref();
    this.kick();
  }

  /**
   * A new order's saga: taken into memory now if there is room (`saga`, what
   * was just committed, saves reading it back), else it waits in the store
   * like any other.
   */
  offer(orderId: string, saga?: Saga): void {
    if (this.stop.signal.aborted || this.running.has(orderId)) return;
    if (this.running.size < this.options.maxSagas) this.launch(orderId, saga, performance.now());
    else this.backlog = true;
  }

  /** Room may have freed (a saga ended, the sweep fired): take due sagas from the store while there is room. */
  kick(): void {
    if (this.stop.signal.aborted) return;
    // While a fill is reading the store, room freed now is looked at by its next round (if the store had more).
    if (this.filling) {
      this.again = true;
      return;
    }
    if (!this.backlog || this.running.size >= this.options.maxSagas) return;
    this.filling = true;
    void this.fill().finally(() => (this.filling = false));
  }

  /** Stops taking sagas, abandons in-flight steps (their state stays in the store) and waits for the runs to end. */
  async close(): Promise<void> {
    this.stop.abort();
    clearInterval(this.sweep);
    await Promise.allSettled([...this.running.values()]);
  }

  private async fill(): Promise<void> {
    try {
      do {
        this.again = false;
        const free = this.options.maxSagas - this.running.size;
        if (free <= 0 || this.stop.signal.aborted) return;
        // Cleared before reading: an offer refused while the query runs sets it again.
        this.backlog = false;
        const due = await this.store.dueSagas([...this.running.keys()], free, Date.now());
        if (due.length >= free) this.backlog = true;
        for (const orderId of due) {
          if (this.running.has(orderId) || this.stop.signal.aborted) continue;
          if (this.running.size >= this.options.maxSagas) {
            this.backlog = true;
            break;
          }
          this.launch(orderId, undefined, undefined);
        }
      } while (this.again && this.backlog);
    } catch (err) {
      this.backlog = true;
      if (!this.stop.signal.aborted) this.log.error({ err }, 'looking for due sagas failed; the sweep will try again');
    }
  }

  private launch(orderId: string, saga: Saga | undefined, placedAt: number | undefined): void {
    const r: Running = { phases: emptyPhases(), placedAt };
    const run = this.run(orderId, saga, r).finally(() => {
      this.running.delete(orderId);
      this.kick();
    });
    this.running.set(orderId, run);
    if (this.running.size > this.highWater) this.highWater = this.running.size;
  }

  private async run(orderId: string, initial: Saga | undefined, r: Running): Promise<void> {
    let saga: Saga | undefined = initial;
    try {
      saga ??= await this.store.saga(orderId);
      for (;;) {
        if (this.stop.signal.aborted || !saga) return;
        if (TERMINAL_STATES.has(saga.state)) {
          this.timeline.record(r.phases, r.placedAt === undefined ? undefined : performance.now() - r.placedAt);
          return;
        }
        const step = stepFor(saga.state)!;
        const result = await this.perform(saga, step, r.phases);
        if (result === 'stopped' || result === 'parked') return;
        const transition = advance(saga, result);
        const events = await this.store.apply(orderId, transition);
        this.log.info({ orderId, from: transition.from, to: transition.to, events: events.map((e) => e.type) }, 'saga step done');
        this.onEvents(orderId, events);
        // What the store now holds, without reading it back.
        saga = { ...saga, state: transition.to, attempts: 0, reason: transition.reason, lastError: null };
      }
    } catch (err) {
      if (this.stop.signal.aborted) return;
      // A store failure or a bug: park the saga rather than spin on it; the sweep brings it back.
      this.log.error({ err, orderId, state: saga?.state }, 'saga run failed; parked');
      if (saga) await this.store.park(orderId, saga.state, Date.now() + this.options.compensationRetryMs, String((err as Error).message)).catch(() => {});
    }
  }

  /** Waits `ms` (or until the runner stops), adding the time to `phases[phase]`. False when stopped. */
  private async wait(ms: number, phases: SagaPhases, phase: 'backoff' | 'deferred'): Promise<boolean> {
    const t0 = performance.now();
    try {
      return await this.onStop.sleep(ms);
    } finally {
      phases[phase] += performance.now() - t0;
    }
  }

  /** Performs `step` until it yields an outcome, giving up (forward steps) or parking (compensation) after the attempts. */
  private async perform(saga: Saga, step: SagaStep, phases: SagaPhases): Promise<StepResult> {
    const compensation = isCompensation(saga.state);
    const dependency = dependencyOf(step);
    const limit = this.limits[dependency];
    let attempts = saga.attempts;
    let deferrals = 0;
    let lastError = saga.lastError ?? 'none recorded';
    for (;;) {
      if (attempts >= this.options.stepAttempts) {
        const reason = `${step} failed ${attempts} times (last: ${lastError})`;
        if (!compensation) return { kind: 'gave-up', reason };
        this.log.warn({ orderId: saga.orderId, step, reason, retryInMs: this.options.compensationRetryMs }, 'compensation failed; parked, will retry');
        await this.store.park(saga.orderId, saga.state, Date.now() + this.options.compensationRetryMs, reason);
        return 'parked';
      }
      if (this.stop.signal.aborted) return 'stopped';
      // Only the call holds a permit: the saga's backoffs and deferrals below hold nothing. Most calls
      // find room at once; only one that must wait gets a signal to stop waiting by.
      let permit = limit.tryAcquire();
      if (!permit) {
        const queuedAt = performance.now();
        const waiting = this.onStop.scoped();
        try {
          permit = await limit.acquire(waiting.signal);
        } catch {
          return 'stopped';
        } finally {
          waiting.release();
          phases.queued += performance.now() - queuedAt;
        }
      }
      const deadline = new StepCall(this.onStop, this.options.stepDeadlineMs);
      try {
        const answer = await this.caller.call(step, stepRequest(saga, step), this.options.stepDeadlineMs, deadline.signal);
        // The call's own time ends with its answer, before any backoff below.
        deadline.end(phases, dependency);
        const outcome = interpret(step, answer);
        permit.success();
        return outcome;
      } catch (err) {
        deadline.end(phases, dependency);
        if (this.stop.signal.aborted) return 'stopped';
        const e = SluiceError.from(err);
        const timedOut = deadline.timedOut || e.code === 'DEADLINE_EXCEEDED';
        const hint = typeof e.details?.retryAfterMs === 'number' ? e.details.retryAfterMs : undefined;
        const refusedByGateway = refusedBeforeService(e.code, hint);
        // What the call says about the dependency's capacity: a timeout or an overload is a drop; a
        // refusal by the gateway or our own lost link says nothing; other errors count in its error rate.
        if (refusedByGateway || !this.caller.connected) permit.ignore();
        else if (timedOut || e.code === 'OVERLOADED') permit.dropped();
        else permit.failed();
        lastError = timedOut ? `DEADLINE_EXCEEDED: no answer within ${this.options.stepDeadlineMs} ms` : `${e.code}: ${e.message}`;
        // The other service refused the request itself: a retry would get the same answer.
        if (e.code === 'INVALID_ARGUMENT' && !deadline.timedOut && !compensation) return refused(step, lastError);
        if (!this.caller.connected) {
          // Our own link to the gateway is down: nothing can succeed, and it is not the step's failure. Wait, uncounted.
          this.log.warn({ orderId: saga.orderId, step }, 'not connected to the gateway; the saga waits');
          const waiting = this.onStop.scoped();
          try {
            await this.caller.whenConnected(waiting.signal);
          } catch {
            return 'stopped';
          } finally {
            waiting.release();
          }
          continue;
        }
        // Refused by the gateway before reaching the service (a breaker letting its probes through, a
        // rate limit): nothing was tried, so it spends no attempt. Counting it let every saga waiting
        // on a half-open breaker burn its attempts in the probes' shadow and cancel orders whose
        // service had recovered. Bounded: past stepDeferrals in a row, refusals count again.
        if (refusedByGateway && deferrals < this.options.stepDeferrals) {
          deferrals++;
          this.deferralCount++;
          this.log.debug({ orderId: saga.orderId, step, deferral: deferrals, error: lastError }, 'saga step deferred');
          const verdict = nextRetry(deferrals, this.deferralBackoff);
          if (!(await this.wait(Math.max(verdict.retry ? verdict.delayMs : 0, hint ?? 0), phases, 'deferred'))) return 'stopped';
          continue;
        }
        deferrals = 0;
        attempts++;
        this.failedAttemptCount++;
        this.log.warn({ orderId: saga.orderId, step, attempt: attempts, of: this.options.stepAttempts, error: lastError }, 'saga step failed');
        await this.store.noteFailedAttempt(saga.orderId, saga.state, attempts, lastError);
        // Past the attempts the loop's top gives up (or parks a compensation). An open breaker or a rate
        // limit says when to come back: sooner would only spend an attempt.
        const verdict = nextRetry(attempts, this.retries);
        if (verdict.retry && !(await this.wait(Math.max(verdict.delayMs, hint ?? 0), phases, 'backoff'))) return 'stopped';
      } finally {
        deadline.end(phases, dependency);
        // Every path above reported the permit; this only covers one that threw before it could.
        permit.ignore();
      }
    }
  }
}

/**
 * One step call in flight: its signal aborts at the step deadline or when the
 * runner stops. One object per call with its controller and timer, and no
 * closures: a call to a slow dependency lives for seconds, so what it holds
 * is copied by every young-generation collection of the order service's
 * thread meanwhile (each a pause for every request that service is serving).
 * The stop hook is O(1) to add and remove (stop-hooks.ts).
 */
class StepCall {
  private readonly controller = new AbortController();
  private readonly timer: ReturnType<typeof setTimeout>;
  private readonly sentAt = performance.now();
  private over = false;
  /** True once the deadline passed (rather than the runner stopping or the call ending first). */
  timedOut = false;

  constructor(
    private readonly hooks: StopHooks,
    private readonly deadlineMs: number,
  ) {
    this.timer = setTimeout(expire, deadlineMs, this);
    hooks.link(this.controller);
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  /** The deadline passed: aborts the call. */
  expire(): void {
    this.timedOut = true;
    this.controller.abort(new SluiceError('DEADLINE_EXCEEDED', `no answer within ${this.deadlineMs} ms`));
  }

  /** The call is over: drops its timer and stop hook, and adds its time to `phases[dependency]`, once. */
  end(phases: SagaPhases, dependency: Dependency): void {
    if (this.over) return;
    this.over = true;
    clearTimeout(this.timer);
    this.hooks.unlink(this.controller);
    phases[dependency] += performance.now() - this.sentAt;
  }
}

function expire(call: StepCall): void {
  call.expire();
}

/** The gateway refused the call itself and said when to come back: the service never saw it. */
function refusedBeforeService(code: string, retryAfterMs: number | undefined): boolean {
  return retryAfterMs !== undefined && (code === 'CIRCUIT_OPEN' || code === 'OVERLOADED');
}

function stepRequest(saga: Saga, step: SagaStep): unknown {
  switch (step) {
    case 'payment.authorize':
      return { orderId: saga.orderId, amountCents: saga.amountCents };
    case 'inventory.reserve':
      return { orderId: saga.orderId, items: saga.items };
    case 'inventory.release':
    case 'payment.refund':
      return { orderId: saga.orderId };
  }
}

/** A step's answer as an outcome; an answer of the wrong shape is INTERNAL (counted as a failed attempt). */
export function interpret(step: SagaStep, answer: unknown): StepOutcome {
  const a = (typeof answer === 'object' && answer !== null ? answer : {}) as Record<string, unknown>;
  const str = (k: string) => (typeof a[k] === 'string' ? (a[k] as string) : undefined);
  const num = (k: string) => (typeof a[k] === 'number' ? (a[k] as number) : undefined);
  switch (step) {
    case 'payment.authorize':
      if (a.status === 'AUTHORIZED' && str('paymentId') && num('amountCents') !== undefined) return { kind: 'authorized', paymentId: str('paymentId')!, amountCents: num('amountCents')! };
      if (a.status === 'DECLINED') return { kind: 'declined', reason: str('reason') ?? 'declined' };
      break;
    case 'inventory.reserve':
      if (a.status === 'RESERVED') return { kind: 'reserved' };
      if (a.status === 'UNAVAILABLE') {
        const sku = str('sku');
        return sku === undefined ? { kind: 'unavailable', reason: str('reason') ?? 'unavailable' } : { kind: 'unavailable', reason: str('reason') ?? 'unavailable', sku };
      }
      break;
    case 'inventory.release':
      if (typeof a.released === 'boolean') return { kind: 'released', released: a.released, items: Array.isArray(a.items) ? (a.items as OrderLine[]) : [] };
      break;
    case 'payment.refund':
      if (typeof a.refunded === 'boolean') {
        const paymentId = str('paymentId');
        const amountCents = num('amountCents');
        return { kind: 'refunded', refunded: a.refunded, ...(paymentId !== undefined ? { paymentId } : {}), ...(amountCents !== undefined ? { amountCents } : {}) };
      }
      break;
  }
  throw new SluiceError('INTERNAL', `${step} answered ${JSON.stringify(answer)?.slice(0, 200)}, which is not a valid answer`);
}

function refused(step: SagaStep, reason: string): StepOutcome {
  return step === 'payment.authorize' ? { kind: 'declined', reason } : { kind: 'unavailable', reason };
}

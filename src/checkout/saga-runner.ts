/**
 * Runs checkout sagas: performs each state's step through the gateway,
 * retries it with backoff, and commits the resulting transition (saga.ts).
 *
 * Delivery: each step is delivered at least once (a retry or a restart
 * re-sends it whenever the answer was not committed) and every step handler
 * is idempotent per order id, so effects happen once.
 *
 * Bounded: at most `maxSagas` run at once. Waiting sagas are not queued in
 * memory: the store is the queue (`dueSagas`), read whenever a slot frees,
 * an order is placed (`kick`) or the sweep timer fires. On start every
 * non-terminal saga is due, so a restarted order service resumes where the
 * last one stopped.
 */
import { setMaxListeners } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { SluiceError } from '../errors.js';
import type { Logger } from '../observability/log.js';
import { backoffDelay, type BackoffOptions } from '../resilience/backoff.js';
import type { OrderOptions } from './config.js';
import type { OrderEvent, OrderLine } from './events.js';
import type { OrderStore } from './order-store.js';
import { advance, isCompensation, stepFor, TERMINAL_STATES, type Saga, type SagaStep, type StepOutcome } from './saga.js';

/** How the runner reaches the other services (the order service's gateway connection). */
export interface StepCaller {
  /** One attempt of a step; `deadlineMs` is its deadline, `signal` aborts it (deadline or shutdown). */
  call(route: SagaStep, data: unknown, deadlineMs: number, signal: AbortSignal): Promise<unknown>;
  readonly connected: boolean;
  /** Resolves once connected to the gateway again; rejects when `signal` aborts. */
  whenConnected(signal: AbortSignal): Promise<void>;
}

export type SagaRunnerOptions = Pick<OrderOptions, 'maxSagas' | 'stepDeadlineMs' | 'stepAttempts' | 'stepDeferrals' | 'retryInitialDelayMs' | 'retryMaxDelayMs' | 'compensationRetryMs'> & {
  /** How often due sagas are looked for even without a kick (parked ones come back this way), in ms. Default 1000. */
  sweepIntervalMs?: number;
};

type StepResult = StepOutcome | 'stopped' | 'parked';

export class SagaRunner {
  private readonly running = new Map<string, Promise<void>>();
  private readonly stop = new AbortController();
  private readonly backoff: BackoffOptions;
  private filling = false;
  private again = false;
  private highWater = 0;
  private sweep: ReturnType<typeof setInterval> | undefined;

  constructor(
    private readonly store: OrderStore,
    private readonly caller: StepCaller,
    private readonly options: SagaRunnerOptions,
    private readonly onEvents: (orderId: string, events: readonly OrderEvent[]) => void,
    private readonly log: Logger,
  ) {
    this.backoff = { initialDelayMs: options.retryInitialDelayMs, maxDelayMs: options.retryMaxDelayMs, multiplier: 2 };
    // One listener per running saga's step call at most (each removed when its call ends).
    setMaxListeners(options.maxSagas + 16, this.stop.signal);
  }

  /**
   * The signal of one step call: aborts at the step deadline or when the
   * runner stops. `release()` once the call is over removes the timer and the
   * listener (AbortSignal.any would keep one per call on the runner's
   * long-lived stop signal).
   */
  private stepSignal(): { readonly signal: AbortSignal; readonly timedOut: boolean; release(): void } {
    const controller = new AbortController();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      controller.abort(new SluiceError('DEADLINE_EXCEEDED', `no answer within ${this.options.stepDeadlineMs} ms`));
    }, this.options.stepDeadlineMs);
    const onStop = () => controller.abort(this.stop.signal.reason);
    this.stop.signal.addEventListener('abort', onStop, { once: true });
    return {
      signal: controller.signal,
      get timedOut() {
        return timedOut;
      },
      release: () => {
        clearTimeout(timer);
        this.stop.signal.removeEventListener('abort', onStop);
      },
    };
  }

  /** Sagas running now. */
  get active(): number {
    return this.running.size;
  }

  /** Most sagas ever running at once. */
  get max(): number {
    return this.highWater;
  }

  /** Resumes every non-terminal saga in the store and keeps looking for due ones. */
  start(): void {
    this.sweep = setInterval(() => this.kick(), this.options.sweepIntervalMs ?? 1_000);
    this.sweep.unref();
    this.kick();
  }

  /** A new order's saga: run it now if a slot is free, else it waits in the store like any other. */
  offer(orderId: string): void {
    if (this.stop.signal.aborted) return;
    if (this.running.size < this.options.maxSagas && !this.running.has(orderId)) this.launch(orderId);
    else this.kick();
  }

  /** Something may be due (a saga ended, the sweep fired): fill free slots from the store. */
  kick(): void {
    if (this.stop.signal.aborted) return;
    if (this.filling) {
      this.again = true;
      return;
    }
    if (this.running.size >= this.options.maxSagas) return;
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
        const due = await this.store.dueSagas([...this.running.keys()], free, Date.now());
        for (const orderId of due) {
          if (this.running.size >= this.options.maxSagas || this.running.has(orderId) || this.stop.signal.aborted) continue;
          this.launch(orderId);
        }
      } while (this.again);
    } catch (err) {
      if (!this.stop.signal.aborted) this.log.error({ err }, 'looking for due sagas failed; the sweep will try again');
    }
  }

  private launch(orderId: string): void {
    const run = this.run(orderId).finally(() => {
      this.running.delete(orderId);
      this.kick();
    });
    this.running.set(orderId, run);
    if (this.running.size > this.highWater) this.highWater = this.running.size;
  }

  private async run(orderId: string): Promise<void> {
    let saga: Saga | undefined;
    try {
      saga = await this.store.saga(orderId);
      for (;;) {
        if (this.stop.signal.aborted || !saga || TERMINAL_STATES.has(saga.state)) return;
        const step = stepFor(saga.state)!;
        const result = await this.perform(saga, step);
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

  /** Performs `step` until it yields an outcome, giving up (forward steps) or parking (compensation) after the attempts. */
  private async perform(saga: Saga, step: SagaStep): Promise<StepResult> {
    const compensation = isCompensation(saga.state);
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
      const deadline = this.stepSignal();
      try {
        const answer = await this.caller.call(step, stepRequest(saga, step), this.options.stepDeadlineMs, deadline.signal);
        deadline.release();
        return interpret(step, answer);
      } catch (err) {
        deadline.release();
        if (this.stop.signal.aborted) return 'stopped';
        const e = SluiceError.from(err);
        lastError = deadline.timedOut || e.code === 'DEADLINE_EXCEEDED' ? `DEADLINE_EXCEEDED: no answer within ${this.options.stepDeadlineMs} ms` : `${e.code}: ${e.message}`;
        // The other service refused the request itself: a retry would get the same answer.
        if (e.code === 'INVALID_ARGUMENT' && !deadline.timedOut && !compensation) return refused(step, lastError);
        if (!this.caller.connected) {
          // Our own link to the gateway is down: nothing can succeed, and it is not the step's failure. Wait, uncounted.
          this.log.warn({ orderId: saga.orderId, step }, 'not connected to the gateway; the saga waits');
          try {
            await this.caller.whenConnected(this.stop.signal);
          } catch {
            return 'stopped';
          }
          continue;
        }
        // Refused by the gateway before reaching the service (a breaker letting its probes through, a
        // rate limit): nothing was tried, so it spends no attempt. Counting it let every saga waiting
        // on a half-open breaker burn its attempts in the probes' shadow and cancel orders whose
        // service had recovered. Bounded: past stepDeferrals in a row, refusals count again.
        const hint = typeof e.details?.retryAfterMs === 'number' ? e.details.retryAfterMs : undefined;
        if (refusedBeforeService(e.code, hint) && deferrals < this.options.stepDeferrals) {
          deferrals++;
          this.log.debug({ orderId: saga.orderId, step, deferral: deferrals, error: lastError }, 'saga step deferred');
          try {
            await sleep(Math.max(backoffDelay(deferrals - 1, this.backoff), hint ?? 0), undefined, { signal: this.stop.signal });
          } catch {
            return 'stopped';
          }
          continue;
        }
        deferrals = 0;
        attempts++;
        this.log.warn({ orderId: saga.orderId, step, attempt: attempts, of: this.options.stepAttempts, error: lastError }, 'saga step failed');
        await this.store.noteFailedAttempt(saga.orderId, saga.state, attempts, lastError);
        if (attempts < this.options.stepAttempts) {
          try {
            // An open breaker or a rate limit says when to come back: sooner would only spend an attempt.
            await sleep(Math.max(backoffDelay(attempts - 1, this.backoff), hint ?? 0), undefined, { signal: this.stop.signal });
          } catch {
            return 'stopped';
          }
        }
      }
    }
  }
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

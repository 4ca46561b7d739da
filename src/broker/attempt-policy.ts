/**
 * The attempt policy of a forwarded interaction, as pure decisions: which
 * instance the next attempt goes to, and whether (and after how long) a
 * failed attempt is retried. They read the route's policy and the facts
 * handed in, and change nothing but what the callbacks they are given
 * change, so each rule can be read, and tested, apart from the sockets.
 * Whether a final failure is dead-lettered is decided with the other
 * dead-letter rules, in src/deadletter/rules.ts.
 */
import { SluiceError, type ErrorCode } from '../errors.js';
import type { InteractionModel } from '../rsocket/stream.js';
import type { CircuitBreaker } from '../resilience/circuit-breaker.js';
import { nextRetry, type RetryVerdict } from '../resilience/retry.js';
import type { RetryPolicy } from '../policy/policy-config.js';
import type { Instance } from './registry.js';

/** What picking an instance for one route needs to know. */
export interface PickInput {
  readonly route: string;
  /** The route's instances (open connections only). */
  readonly candidates: readonly Instance[];
  /** Instances this interaction already tried: a retry goes elsewhere where it can. */
  readonly tried: ReadonlySet<Instance>;
  /** This route's interactions in flight on an instance. */
  activeOn(instance: Instance): number;
  /** The route's limit per instance (`bulkhead.maxConcurrentPerInstance`). */
  readonly maxPerInstance: number;
  /** The route's breaker on an instance; undefined when breakers are off. */
  breaker(instance: Instance): CircuitBreaker | undefined;
}

export type Pick = { instance: Instance; breaker: CircuitBreaker | undefined } | { error: SluiceError; allOpen: boolean };

/**
 * Untried instances first (a retry goes elsewhere where possible), then
 * those under their per-instance limit; instances that keep up with reading
 * first, then the least loaded; the first whose breaker admits the call
 * wins. `allOpen` is true when every eligible instance's breaker refused:
 * the caller may try the route's fallback.
 */
export function pickInstance(input: PickInput): Pick {
  const { route, candidates, tried } = input;
  if (candidates.length === 0) return { error: new SluiceError('NO_ROUTE', `no instance serves route '${route}'`), allOpen: false };
  // The usual case without an array: the instance the ordering below puts first, if its breaker admits.
  // A stable sort puts first the earliest of the best, which is what a scan keeping the first best finds.
  let skipTried = false;
  for (const i of candidates) if (!tried.has(i)) skipTried = true;
  let best: Instance | undefined;
  for (const i of candidates) {
    if ((skipTried && tried.has(i)) || input.activeOn(i) >= input.maxPerInstance) continue;
    if (best === undefined || before(i, best)) best = i;
  }
  if (best === undefined) {
    return { error: new SluiceError('OVERLOADED', `every instance of route '${route}' is at its limit of ${input.maxPerInstance} concurrent interactions`), allOpen: false };
  }
  const first = input.breaker(best);
  if (!first || first.tryAcquire()) return { instance: best, breaker: first };
  // Its breaker refused: the others in order.
  const untried = candidates.filter((i) => !tried.has(i));
  const pool = (untried.length ? untried : candidates).filter((i) => input.activeOn(i) < input.maxPerInstance);
  pool.sort((a, b) => (before(a, b) ? -1 : before(b, a) ? 1 : 0));
  for (const instance of pool) {
    if (instance === best) continue;
    const breaker = input.breaker(instance);
    if (!breaker || breaker.tryAcquire()) return { instance, breaker };
  }
  const retryAfter = Math.min(...pool.map((i) => input.breaker(i)?.remainingOpenMs() ?? 0));
  const error = new SluiceError('CIRCUIT_OPEN', `circuit open for route '${route}' on every instance; retry after ${Math.max(1, Math.ceil(retryAfter))} ms`, {
    details: { retryAfterMs: Math.ceil(retryAfter) },
  });
  return { error, allOpen: true };
}

/** Whether `a` goes before `b`: a slow reader gets work only when nobody else can take it, then the least loaded. */
function before(a: Instance, b: Instance): boolean {
  const aw = a.connection.writable;
  if (aw !== b.connection.writable) return aw;
  return a.active < b.active;
}

/** What deciding on a retry needs to know about the failed attempt. */
export interface RetryInput {
  readonly model: InteractionModel;
  readonly code: ErrorCode;
  /** Whether the requester already received an item: then a retry would repeat it. */
  readonly emitted: boolean;
  readonly idempotent: boolean;
  /** Attempts made so far, the failed one included. */
  readonly attempts: number;
  /** Time left before the interaction's deadline, in ms; undefined without one. */
  readonly remainingMs: number | undefined;
  readonly retry: RetryPolicy;
  /** The route's retry budget: withdrawn from only for a retry that will happen. */
  readonly budget?: { tryWithdraw(): boolean };
}

/**
 * Whether (and after how long) a failed attempt is retried: only idempotent
 * request-responses and streams that sent nothing yet, on a retryable code;
 * then the shared retry rule (src/resilience/retry.ts): within the attempts,
 * the deadline and the budget.
 */
export function retryDelay(input: RetryInput): RetryVerdict | undefined {
  const { retry } = input;
  if (input.emitted || input.model === 'channel' || !input.idempotent || !retry.retryOn.includes(input.code)) return undefined;
  return nextRetry(input.attempts, retry, { remainingMs: input.remainingMs, ...(input.budget ? { budget: input.budget } : {}) });
}

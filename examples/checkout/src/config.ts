/**
 * Options of the three checkout services: every default and allowed range in
 * one place, validated once at start-up. A bad value is a ConfigError naming
 * the key and the range (`payment.failureRate must be a number from 0 to 1,
 * got 2`).
 */
import { ConfigError } from 'sluice';

/** Failure injection for the demo's failure story. */
export interface ChaosOptions {
  /**
   * Extra time before each answer, in ms, after the effect is committed: a
   * slow service whose caller may give up although the work was done (which
   * is what idempotent retries are for). Default 0, range 0-600000.
   */
  latencyMs: number;
  /**
   * Probability (0-1) that a call fails with UNAVAILABLE before doing
   * anything, as a crashed or unreachable dependency would. Default 0.
   */
  failureRate: number;
}

export interface PaymentOptions extends ChaosOptions {
  /** Authorizations above this amount (cents) are declined, like a card limit. Default 1,000,000 (10,000.00). */
  maxAmountCents: number;
}

export type InventoryOptions = ChaosOptions;

export interface OrderOptions {
  /**
   * The work queue: place commands taken in (from `checkout.place` calls and
   * `checkout.submit` channels) and not yet answered. `checkout.submit` pulls
   * a command from its requester only when the queue has room. Default 64.
   */
  queueSize: number;
  /** `checkout.place` calls waiting for room in the queue; more are refused with OVERLOADED. Default 1024. */
  maxQueueWaiters: number;
  /** Open `checkout.submit` channels; more are refused with OVERLOADED. Default 64. */
  maxSubmitChannels: number;
  /**
   * Sagas in progress in memory at once: waiting for a call permit, in a
   * step call, or waiting out a backoff. A saga waiting on a reply holds no
   * more than its own record (about a kilobyte); how many calls go out at
   * once is bounded per dependency by `maxStepCalls`, not by this. Past it,
   * new sagas wait in the store (not in memory) and start as others end.
   * Default 2048.
   */
  maxSagas: number;
  /**
   * Ceiling of the adaptive limit on step calls in flight toward one
   * dependency (payment, inventory). The limit itself follows the
   * dependency's measured latency and error rate (resilience/adaptive-limit.ts).
   * Default 1024.
   */
  maxStepCalls: number;
  /** Where each dependency's adaptive call limit starts, before any answer is measured. Default 20. */
  initialStepCalls: number;
  /** Open `orders.watch` streams; more are refused with OVERLOADED. Default 10,000. */
  maxWatchers: number;
  /** Deadline of one saga step call (authorize, reserve, release, refund), in ms. Default 5000. */
  stepDeadlineMs: number;
  /** Attempts of a forward step (authorize, reserve) before the saga gives up and compensates. Default 6. */
  stepAttempts: number;
  /**
   * Refusals in a row by the gateway itself (CIRCUIT_OPEN, OVERLOADED, with a
   * "retry after" hint) that a step waits out without spending an attempt:
   * the service never saw those calls. Past it they count. Default 20.
   */
  stepDeferrals: number;
  /** Backoff between attempts: first ceiling in ms (full jitter, doubling). Default 200. */
  retryInitialDelayMs: number;
  /** Backoff between attempts: largest ceiling in ms. Default 5000. */
  retryMaxDelayMs: number;
  /**
   * A compensation step (release, refund) that failed `stepAttempts` times
   * is parked and tried again after this many ms; it never gives up. Default 10,000.
   */
  compensationRetryMs: number;
  /**
   * Deadline of a `checkout.place` relayed to the instance owning its
   * idempotency key (several instances, `--order-instances`), in ms: past
   * it the caller gets DEADLINE_EXCEEDED (the owner may still have placed
   * the order; a retry with the same key finds it). Default 5000.
   */
  relayDeadlineMs: number;
  /**
   * Orders accepted into the place journal and not yet committed to the
   * store, at most (place-journal.ts): a place is answered once its line is
   * written, and the journaled orders are committed together. Past it, a
   * place waits for its own commit, as with 0, which turns the journal off.
   * Default 512.
   */
  maxJournaledPlaces: number;
  /**
   * How long a journaled order waits for others to join its commit, in ms
   * (a full batch goes at once). Its saga starts once it is committed, and
   * a read of it waits for that. Default 25.
   */
  placeLingerMs: number;
  /**
   * The nice value of the order store's worker thread (0-19; 0 runs it at
   * the service's priority): saga writes are background work and yield the
   * CPU to the thread answering places. Default 10.
   */
  storeWorkerNice: number;
}

export const defaultChaos: ChaosOptions = { latencyMs: 0, failureRate: 0 };
export const defaultPaymentOptions: PaymentOptions = { ...defaultChaos, maxAmountCents: 1_000_000 };
export const defaultInventoryOptions: InventoryOptions = { ...defaultChaos };
export const defaultOrderOptions: OrderOptions = {
  queueSize: 64,
  maxQueueWaiters: 1024,
  maxSubmitChannels: 64,
  maxSagas: 2_048,
  maxStepCalls: 1_024,
  initialStepCalls: 20,
  maxWatchers: 10_000,
  stepDeadlineMs: 5_000,
  stepAttempts: 6,
  stepDeferrals: 20,
  retryInitialDelayMs: 200,
  retryMaxDelayMs: 5_000,
  compensationRetryMs: 10_000,
  relayDeadlineMs: 5_000,
  maxJournaledPlaces: 512,
  placeLingerMs: 25,
  storeWorkerNice: 10,
};

type Range = readonly [min: number, max: number, kind: 'int' | 'number'];

const CHAOS_RANGES: Record<keyof ChaosOptions, Range> = { latencyMs: [0, 600_000, 'int'], failureRate: [0, 1, 'number'] };
const PAYMENT_RANGES: Record<keyof PaymentOptions, Range> = { ...CHAOS_RANGES, maxAmountCents: [0, Number.MAX_SAFE_INTEGER, 'int'] };
const ORDER_RANGES: Record<keyof OrderOptions, Range> = {
  queueSize: [1, 100_000, 'int'],
  maxQueueWaiters: [0, 1_000_000, 'int'],
  maxSubmitChannels: [1, 10_000, 'int'],
  maxSagas: [1, 100_000, 'int'],
  maxStepCalls: [1, 100_000, 'int'],
  initialStepCalls: [1, 100_000, 'int'],
  maxWatchers: [1, 1_000_000, 'int'],
  stepDeadlineMs: [10, 600_000, 'int'],
  stepAttempts: [1, 100, 'int'],
  stepDeferrals: [0, 1_000, 'int'],
  retryInitialDelayMs: [1, 600_000, 'int'],
  retryMaxDelayMs: [1, 600_000, 'int'],
  compensationRetryMs: [10, 3_600_000, 'int'],
  relayDeadlineMs: [10, 600_000, 'int'],
  maxJournaledPlaces: [0, 100_000, 'int'],
  placeLingerMs: [0, 60_000, 'int'],
  storeWorkerNice: [0, 19, 'int'],
};

function resolve<T extends object>(prefix: string, defaults: T, ranges: Record<keyof T, Range>, options: Partial<T> | undefined): T {
  const merged = { ...defaults } as Record<string, unknown>;
  for (const [key, value] of Object.entries(options ?? {})) {
    if (value === undefined) continue;
    if (!(key in ranges)) throw new ConfigError(`${prefix}.${key}`, `unknown option (known: ${Object.keys(ranges).join(', ')})`);
    const [min, max, kind] = ranges[key as keyof T];
    const ok = typeof value === 'number' && (kind === 'int' ? Number.isInteger(value) : Number.isFinite(value)) && value >= min && value <= max;
    if (!ok) throw new ConfigError(`${prefix}.${key}`, `must be ${kind === 'int' ? 'an integer' : 'a number'} from ${min} to ${max}, got ${JSON.stringify(value)}`);
    merged[key] = value;
  }
  return merged as T;
}

export function resolvePaymentOptions(options?: Partial<PaymentOptions>): PaymentOptions {
  return resolve('payment', defaultPaymentOptions, PAYMENT_RANGES, options);
}

export function resolveInventoryOptions(options?: Partial<InventoryOptions>): InventoryOptions {
  return resolve('inventory', defaultInventoryOptions, CHAOS_RANGES, options);
}

/**
 * Where the order store's PGlite runs: `worker`, its own thread (default),
 * so the service thread keeps reading its sockets while the store works; or
 * `service`, the service's own thread, which saves the trips between threads
 * but makes every socket wait while a statement runs. docs/checkout.md
 * compares them.
 */
export type StoreThread = 'worker' | 'service';

export const STORE_THREADS: readonly StoreThread[] = ['worker', 'service'];

/** `order.storeThread` validated: undefined is the default, `worker`. */
export function resolveStoreThread(value: string | undefined): StoreThread {
  if (value === undefined) return 'worker';
  if (!(STORE_THREADS as readonly string[]).includes(value)) throw new ConfigError('order.storeThread', `must be one of ${STORE_THREADS.join(', ')}, got ${JSON.stringify(value)}`);
  return value as StoreThread;
}

export function resolveOrderOptions(options?: Partial<OrderOptions>): OrderOptions {
  const o = resolve('order', defaultOrderOptions, ORDER_RANGES, options);
  if (o.initialStepCalls > o.maxStepCalls) throw new ConfigError('order.initialStepCalls', `must be at most order.maxStepCalls (${o.maxStepCalls}), got ${o.initialStepCalls}`);
  if (o.retryMaxDelayMs < o.retryInitialDelayMs) throw new ConfigError('order.retryMaxDelayMs', `must be at least order.retryInitialDelayMs (${o.retryInitialDelayMs}), got ${o.retryMaxDelayMs}`);
  return o;
}

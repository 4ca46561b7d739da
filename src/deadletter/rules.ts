/**
 * The one place that decides which failed requests are dead-lettered, stores
 * them and counts them. Requests fail at three points (refused before any
 * policy state exists, failed after their attempts, fire-and-forget lost);
 * each used to decide and count on its own, and only one of them counted, so
 * `sluice_dead_lettered_total` missed the NO_ROUTE and fire-and-forget
 * letters. Every letter now goes through `DeadLetterer`, which counts it once
 * it is stored.
 */
import { SluiceError, type ErrorCode } from '../errors.js';
import type { Payload } from '../protocol/frames.js';
import type { Stream } from '../rsocket/stream.js';
import type { Logger } from '../observability/log.js';
import type { RoutePolicy } from '../policy/policy-config.js';

/** A request that failed for good, as handed to the dead-letter queue. */
export interface FailedRequest {
  readonly route: string;
  readonly model: 'response' | 'fnf';
  readonly payload: Payload;
  readonly error: SluiceError;
  /** Attempts made upstream (0 when it was refused before any). */
  readonly attempts: number;
  /** Epoch ms of the first failure. */
  readonly firstFailedAt: number;
}

/** Stores a request that finally failed; resolves with its dead-letter id, or rejects (queue full). */
export type DeadLetterSink = (letter: FailedRequest) => Promise<string>;

/**
 * Where a request failed:
 * - `refused`: at the gateway's door, before any attempt (e.g. no instance serves the route);
 * - `failed`: a request-response whose attempts are over;
 * - `fnf`: a fire-and-forget that could not be delivered; `served` says whether any instance serves its route.
 */
export type FailurePoint = { at: 'refused' | 'failed'; model: 'response' | 'stream' | 'channel' } | { at: 'fnf'; served: boolean };

/** Errors that may be dead-lettered after the attempts, beyond the route's retryable codes. */
const DEAD_LETTERABLE: ReadonlySet<ErrorCode> = new Set(['POISON_MESSAGE', 'NO_ROUTE', 'CIRCUIT_OPEN', 'DEADLINE_EXCEEDED']);

/**
 * Whether a request that ended with `code` is dead-lettered under its
 * route's `policy`. Pure. Streams and channels never are (their items may
 * have been half delivered); neither are the caller's own mistakes
 * (INVALID_ARGUMENT) nor refusals of its grant (anyone could fill the queue).
 */
export function deadLetterable(point: FailurePoint, code: ErrorCode, policy: Pick<RoutePolicy, 'deadLetter' | 'retry'>): boolean {
  if (!policy.deadLetter) return false;
  switch (point.at) {
    case 'refused':
      // A command to a route nobody serves right now is kept for when someone does.
      return point.model === 'response' && code === 'NO_ROUTE';
    case 'failed':
      return point.model === 'response' && (DEAD_LETTERABLE.has(code) || policy.retry.retryOn.includes(code));
    case 'fnf':
      return point.served && code !== 'INVALID_ARGUMENT' && code !== 'PERMISSION_DENIED';
  }
}

/** Most routes `sluice_dead_lettered_total` names; letters of further routes count under `(other)`. */
export const MAX_COUNTED_ROUTES = 1_000;

/** Stores dead letters in the sink and counts each one stored, per route. */
export class DeadLetterer {
  private readonly stored = new Map<string, number>();

  constructor(
    private readonly sink: DeadLetterSink | undefined,
    private readonly log: Logger,
  ) {}

  /** Whether there is a queue to store letters in. */
  get enabled(): boolean {
    return this.sink !== undefined;
  }

  /** Letters stored so far, per route (at most MAX_COUNTED_ROUTES names, then `(other)`). */
  counts(): ReadonlyMap<string, number> {
    return this.stored;
  }

  /**
   * Stores a request-response that finally failed, then answers the
   * requester with the error naming the entry (or saying why it was not
   * stored). Resolves with whether it was stored.
   */
  letterThenAnswer(letter: FailedRequest, down: Stream, log: Logger = this.log): Promise<boolean> {
    const { error, route } = letter;
    return this.store(letter).then(
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

  /** Stores a fire-and-forget that could not be delivered; it has nobody to answer, so the outcome is logged. */
  letterFireAndForget(letter: FailedRequest, log: Logger = this.log): Promise<boolean> {
    const { error, route } = letter;
    return this.store(letter).then(
      (id) => {
        log.warn({ route, code: error.code, deadLetter: id }, 'fire-and-forget dead-lettered');
        return true;
      },
      (err: unknown) => {
        log.error({ route, code: error.code, reason: (err as Error).message }, 'fire-and-forget lost: dead-letter refused');
        return false;
      },
    );
  }

  /**
   * Stores a letter from outside the forwarding path (a webhook delivery
   * that used its last attempt). Resolves with its id, or undefined when
   * the queue refused it (logged).
   */
  keep(letter: FailedRequest, log: Logger = this.log): Promise<string | undefined> {
    return this.store(letter).then(
      (id) => id,
      (err: unknown) => {
        log.error({ route: letter.route, code: letter.error.code, reason: (err as Error).message }, 'dead-letter refused');
        return undefined;
      },
    );
  }

  private store(letter: FailedRequest): Promise<string> {
    if (!this.sink) return Promise.reject(new SluiceError('INTERNAL', 'no dead-letter queue'));
    return this.sink(letter).then((id) => {
      const label = this.stored.has(letter.route) || this.stored.size < MAX_COUNTED_ROUTES ? letter.route : '(other)';
      this.stored.set(label, (this.stored.get(label) ?? 0) + 1);
      return id;
    });
  }
}

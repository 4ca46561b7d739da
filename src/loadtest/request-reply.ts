/**
 * Request-response load, generic over the call (so the same driver measures
 * Sluice, NATS and plain HTTP alike):
 *
 * - open loop (`rate`): sends leave on a fixed schedule whatever the answers
 *   do; latency counts from each send's scheduled time. At most
 *   `maxInFlight` requests wait at once; a send due beyond that is not made
 *   and counts as MAX_IN_FLIGHT, so a stalled target cannot grow the load
 *   tester's memory without bound.
 * - closed loop (`concurrency`): that many workers, each sending its next
 *   request when the previous one is answered.
 *
 * Either way sending stops at `count` requests or `durationMs`, and answers
 * are awaited for at most `drainMs` more; requests still open then count as
 * UNFINISHED.
 */
import { LoadtestCodes, codeOf } from './error-counts.js';
import { runOpenLoop, type LoopEnd } from './rate.js';
import type { RunBounds } from './stats.js';

export interface RequestReplyOptions extends RunBounds {
  /** Makes request `i`; resolves on success, rejects with a coded error. */
  call(i: number): Promise<unknown>;
  /** Open loop at this many requests per second. Omit for closed loop. */
  rate?: number;
  /** Closed loop: requests kept outstanding. */
  concurrency?: number;
  /** Open loop: most requests waiting at once. */
  maxInFlight: number;
}

export interface RequestReplyResult {
  /** Why sending stopped. */
  readonly end: LoopEnd;
  /** Ms from the start until sending stopped. */
  readonly sendingMs: number;
  /** Requests still unanswered when the drain time ran out. */
  readonly unfinished: number;
}

export async function runRequestReply(o: RequestReplyOptions): Promise<RequestReplyResult> {
  const { clock, stats } = o;
  const start = clock.now();
  // Set when the drain time runs out: answers after that are not counted twice.
  let abandoned = false;
  // Requests sent and not yet answered (a count, not a set of tokens: nothing per request to allocate).
  let open = 0;
  const onAnswer = () => {
    open--;
  };
  const send = (i: number, from: number): Promise<void> => {
    open++;
    stats.onSent();
    return o.call(i).then(
      () => {
        onAnswer();
        if (!abandoned) stats.onSuccess(clock.now() - from);
      },
      (err: unknown) => {
        onAnswer();
        if (!abandoned) stats.onFailure(codeOf(err));
      },
    );
  };

  let end: LoopEnd;
  if (o.rate !== undefined) {
    const loop = await runOpenLoop({
      rate: o.rate,
      count: o.count,
      durationMs: o.durationMs,
      clock,
      ...(o.signal ? { signal: o.signal } : {}),
      fire: (i, scheduledAt) => {
        if (stats.inFlight >= o.maxInFlight) {
          stats.onRefused(LoadtestCodes.MAX_IN_FLIGHT);
          return;
        }
        void send(i, scheduledAt);
      },
    });
    end = loop.end;
  } else {
    end = await closedLoop(o, send, start);
  }
  const sendingMs = clock.now() - start;
  stats.sending = false;

  // Drain: wait for the answers of what was sent, for a bounded time.
  const drainEnd = clock.now() + o.drainMs;
  while (open > 0 && clock.now() < drainEnd && !o.signal?.aborted) {
    try {
      await clock.sleep(Math.min(50, drainEnd - clock.now()), o.signal);
    } catch {
      break;
    }
  }
  const unfinished = open;
  abandoned = true;
  for (let i = 0; i < unfinished; i++) stats.onFailure(LoadtestCodes.UNFINISHED);
  return { end, sendingMs, unfinished };
}

async function closedLoop(o: RequestReplyOptions, send: (i: number, from: number) => Promise<void>, start: number): Promise<LoopEnd> {
  const endAt = start + o.durationMs;
  let end: LoopEnd = 'count';
  // Workers stop waiting at the end of the duration even if their request
  // hangs: the drain phase then waits for it, for a bounded time. One race
  // for the whole run, not one per request: each Promise.race added a
  // reaction to the timer's promise that was kept until the end (one per
  // request sent, a garbage-collector cost that showed in the requester).
  const timer = new AbortController();
  let stopped = false;
  const timeUp = o.clock.sleep(o.durationMs, timer.signal).then(
    () => {
      if (end !== 'aborted') end = o.signal?.aborted ? 'aborted' : 'duration';
    },
    () => {},
  );
  let next = 0;
  const worker = async () => {
    for (;;) {
      if (stopped) return;
      if (o.signal?.aborted) return void (end = 'aborted');
      if (o.clock.now() >= endAt) return void (end = end === 'aborted' ? end : 'duration');
      if (next >= o.count) return;
      const i = next++;
      await send(i, o.clock.now());
    }
  };
  await Promise.race([Promise.all(Array.from({ length: o.concurrency ?? 1 }, worker)), timeUp]);
  // A worker whose request answers after this sends nothing more.
  stopped = true;
  timer.abort();
  return end;
}

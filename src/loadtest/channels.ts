/**
 * Flooding producers over request-channel. Each of `consumers` channels
 * carries one producer -> consumer flow: it opens with `open` (for
 * bench.sink, `{"delayMs"}`: the consumer's pace), then pushes items
 * `{seq, p, pad}` as fast as the consumer grants demand. The input is an
 * async generator, pulled only when demand arrives, so a producer can never
 * push more than it was granted and nothing queues anywhere; what it would
 * have pushed beyond that (at `rate`) is counted as held back.
 *
 * Every answer is an acknowledgement. Acks of one channel arrive in order;
 * when an ack carries the item's seq (`{"ack": seq}`, as bench.sink's do)
 * each one is checked against the next expected seq, so an item acked twice
 * counts as a duplicate and a skipped one as missing. Exactly once means:
 * acked = sent, no duplicates, none missing.
 */
import { Observable, type Subscription } from 'rxjs';
import type { SluiceClient } from '../client/client.js';
import { LoadtestCodes, codeOf } from './error-counts.js';
import { splitSchedule, type LoopEnd, type OpenLoopSchedule } from './rate.js';
import type { RunBounds } from './stats.js';

export interface ChannelLoadOptions extends RunBounds {
  /** Producer connections; channel `c` uses `clients[c % clients.length]`. */
  clients: readonly SluiceClient[];
  route: string;
  /** Concurrent channels (consumers). */
  consumers: number;
  /** The opening payload of every channel. */
  open: unknown;
  /** Approximate item size in bytes. */
  size: number;
  /** Items per second all producers would push if demand allowed; null: as fast as granted. */
  rate: number | null;
}

/** Exactly-once accounting over all channels. */
export interface DeliveryCounts {
  /** Items producers would have pushed at `rate` by the end of sending (null when pushing as fast as granted). */
  readonly offered: number | null;
  /** Items sent: granted by demand and pushed (accepted). */
  readonly sent: number;
  /** Distinct items acknowledged. */
  readonly acked: number;
  /** Acks for an item already acknowledged. */
  readonly duplicates: number;
  /** Items skipped by a later ack (never acknowledged themselves). */
  readonly missing: number;
  /** Items sent and never acknowledged (channel failed or drain time ran out), missing ones included. */
  readonly unacked: number;
  /** Channels that ended with an error, or were still open when the drain time ran out. */
  readonly failedChannels: number;
}

export interface ChannelLoadResult {
  readonly end: LoopEnd;
  readonly sendingMs: number;
  readonly delivery: DeliveryCounts;
}

interface ChannelState {
  seq: number;
  /** Send times of unacknowledged items, oldest first. */
  readonly sentAt: number[];
  head: number;
  acked: number;
  duplicates: number;
  missing: number;
  /** Next seq an ack should carry (ordered channels). */
  expected: number;
  done: boolean;
  failed: boolean;
  readonly schedule: OpenLoopSchedule | undefined;
}

/** Budget of items shared by all producers. */
class Budget {
  constructor(private left: number) {}
  take(): boolean {
    if (this.left <= 0) return false;
    this.left--;
    return true;
  }
}

export async function runChannelLoad(o: ChannelLoadOptions): Promise<ChannelLoadResult> {
  if (o.clients.length === 0) throw new RangeError('at least one producer connection is needed');
  const { clock, stats } = o;
  const start = clock.now();
  const endAt = start + o.durationMs;
  const budget = new Budget(o.count);
  const pad = 'x'.repeat(Math.max(0, o.size - '{"seq":0,"p":0,"pad":""}'.length - 6));
  const schedules = o.rate === null ? undefined : splitSchedule(o.rate, o.consumers, start);
  const stop = new AbortController();
  const stopSending = () => stop.abort();
  o.signal?.addEventListener('abort', stopSending, { once: true });
  let sendingEndedAt: number | undefined;
  let end: LoopEnd = 'duration';
  let sendersLeft = o.consumers;
  const senderDone = (why: LoopEnd) => {
    if (why === 'count' || why === 'aborted') end = why;
    if (--sendersLeft === 0) {
      sendingEndedAt = clock.now();
      stats.sending = false;
    }
  };

  const channels: ChannelState[] = Array.from({ length: o.consumers }, (_, c) => ({
    seq: 0,
    sentAt: [],
    head: 0,
    acked: 0,
    duplicates: 0,
    missing: 0,
    expected: 0,
    done: false,
    failed: false,
    schedule: schedules?.[c],
  }));

  async function* input(c: number, ch: ChannelState): AsyncGenerator<unknown> {
    let why: LoopEnd = 'duration';
    try {
      yield o.open;
      for (;;) {
        if (stop.signal.aborted) return void (why = o.signal?.aborted ? 'aborted' : 'duration');
        if (ch.schedule) {
          // Pace to the offered rate: wait for this item's slot unless already behind it.
          const wait = Math.min(ch.schedule.at(ch.seq), endAt) - clock.now();
          if (wait > 0) {
            try {
              await clock.sleep(wait, stop.signal);
            } catch {
              continue;
            }
          }
        }
        if (clock.now() >= endAt) return void (why = 'duration');
        if (!budget.take()) return void (why = 'count');
        ch.sentAt.push(clock.now());
        stats.onSent();
        yield { seq: ch.seq++, p: c, pad };
      }
    } finally {
      senderDone(why);
    }
  }

  const onAck = (ch: ChannelState, ack: unknown) => {
    if (ch.head >= ch.sentAt.length) {
      // More acks than items sent on this channel: the extra ones are duplicates.
      ch.duplicates++;
      return;
    }
    const carried = typeof ack === 'object' && ack !== null ? (ack as { ack?: unknown }).ack : undefined;
    if (typeof carried === 'number') {
      if (carried < ch.expected) {
        ch.duplicates++;
        return;
      }
      if (carried > ch.expected) {
        // Items expected..carried-1 were skipped: never acknowledged.
        const skipped = Math.min(carried - ch.expected, ch.sentAt.length - ch.head - 1);
        ch.missing += skipped;
        ch.head += skipped;
        for (let i = 0; i < skipped; i++) stats.onFailure(LoadtestCodes.MISSING_ACK);
      }
      ch.expected = carried + 1;
    } else {
      ch.expected++;
    }
    const sentAt = ch.sentAt[ch.head++]!;
    ch.acked++;
    stats.onSuccess(clock.now() - sentAt);
    // Compact the queue now and then: it holds at most the items in flight.
    if (ch.head > 1024 && ch.head * 2 > ch.sentAt.length) {
      ch.sentAt.splice(0, ch.head);
      ch.head = 0;
    }
  };

  const subscriptions: Subscription[] = [];
  const finished = channels.map(
    (ch, c) =>
      new Promise<void>((resolve) => {
        const out: Observable<unknown> = o.clients[c % o.clients.length]!.requestChannel(o.route, input(c, ch), { prefetch: 64 });
        subscriptions.push(
          out.subscribe({
            next: (ack) => onAck(ch, ack),
            error: (err: unknown) => {
              ch.done = true;
              ch.failed = true;
              stats.onRefused(codeOf(err));
              resolve();
            },
            complete: () => {
              ch.done = true;
              resolve();
            },
          }),
        );
      }),
  );

  // Bounded wait: sending stops by itself at the deadline or the budget; answers get drainMs more.
  const timers = new AbortController();
  const sleep = (msLeft: number) => clock.sleep(msLeft, timers.signal).then(() => true, () => false);
  void sleep(o.durationMs).then((elapsed) => {
    if (elapsed) stats.sending = false;
  });
  // After an abort, answers get drainMs from that moment, not from the planned end.
  const abortDrain = new Promise<void>((resolve) => {
    if (!o.signal) return;
    o.signal.addEventListener('abort', () => void sleep(o.drainMs).then(() => resolve()), { once: true, signal: timers.signal });
  });
  await Promise.race([Promise.all(finished), sleep(o.durationMs + o.drainMs), abortDrain]);
  timers.abort();
  stop.abort();
  o.signal?.removeEventListener('abort', stopSending);

  let failedChannels = 0;
  let unacked = 0;
  for (const ch of channels) {
    const open = ch.sentAt.length - ch.head;
    unacked += open;
    if (!ch.done) {
      failedChannels++;
      stats.onRefused(LoadtestCodes.UNFINISHED);
    } else if (ch.failed) failedChannels++;
    // Items never acknowledged leave "in flight" as failures of their channel.
    for (let i = 0; i < open; i++) stats.onFailure(LoadtestCodes.UNACKED);
  }
  for (const s of subscriptions) s.unsubscribe();

  // Sending cannot outlast the deadline, even when a channel waited for demand past it.
  const sendEnd = Math.min(sendingEndedAt ?? clock.now(), endAt);
  stats.sending = false;
  const sent = channels.reduce((n, ch) => n + ch.seq, 0);
  const offered = schedules ? Math.min(o.count, schedules.reduce((n, s) => n + s.dueBy(Math.min(sendEnd, endAt)), 0)) : null;
  const missing = channels.reduce((n, ch) => n + ch.missing, 0);
  return {
    end,
    sendingMs: sendEnd - start,
    delivery: {
      offered,
      sent,
      acked: channels.reduce((n, ch) => n + ch.acked, 0),
      duplicates: channels.reduce((n, ch) => n + ch.duplicates, 0),
      missing,
      unacked: unacked + missing,
      failedChannels,
    },
  };
}

/**
 * The gateway's side of one instance for one durable route: how many
 * commands it may send there now (the instance's own demand), and what
 * settles each command it sent. Two kinds, as the route's policy says:
 *
 * - `ChannelLink`: one request-channel to the instance, opened with the
 *   first command (which the channel's request frame carries). After it,
 *   a command goes only against the instance's REQUEST_N, so the service's
 *   request(n) is the gateway's pull size. Each reply item acknowledges the
 *   oldest unacknowledged command (the contract of a durable channel route:
 *   one reply per command, in order). An error, a completion or a lost
 *   connection fails every command still unacknowledged.
 * - `ResponseLink`: one request-response per command; the reply acks it,
 *   an error fails it. Request-response has no request(n), so the demand is
 *   `maxInFlightPerInstance` calls at once.
 *
 * Both hold at most `maxInFlight` unacknowledged commands, and fail a
 * command the instance has not settled within the policy's `ackTimeoutMs`
 * (`expire`, called by the dispatcher's one sweep timer): a channel is then
 * ended (its replies are in order, so nothing behind the stuck command can be
 * acknowledged), a request-response call cancelled.
 */
import { SluiceError } from '../errors.js';
import type { Connection } from '../rsocket/connection.js';
import type { Stream } from '../rsocket/stream.js';
import type { Delivery } from './queue.js';

export interface LinkEvents {
  acked(d: Delivery): void;
  failed(d: Delivery, error: SluiceError): void;
  /** The link may take more (or fewer) commands than before. */
  demandChanged(): void;
}

export interface DeliveryLink {
  /** Commands the instance may be sent now. */
  capacity(): number;
  /** Commands sent and not yet settled. */
  readonly inFlight: number;
  send(d: Delivery): void;
  /** Fails the commands sent before `before` (epoch ms) and still unsettled: the instance took too long. */
  expire(before: number, timeoutMs: number): void;
  /** The instance left: fail what is in flight; the link is not used again. */
  close(error: SluiceError): void;
}

/** What both links share: the instance's connection, their bound, whom they tell. */
abstract class LinkBase {
  protected closed = false;

  constructor(
    protected readonly conn: Connection,
    protected readonly maxInFlight: number,
    protected readonly events: LinkEvents,
  ) {}
}

function ackTimeout(timeoutMs: number): SluiceError {
  return new SluiceError('DEADLINE_EXCEEDED', `the instance did not acknowledge the durable command within ${timeoutMs} ms (durable.ackTimeoutMs)`);
}

interface Sent {
  readonly d: Delivery;
  /** Epoch ms it was sent. */
  readonly at: number;
}

export class ChannelLink extends LinkBase implements DeliveryLink {
  private stream: Stream | undefined;
  private readonly unacked: Sent[] = [];
  /** The instance stopped taking commands on the open channel (it cancelled our half). */
  private inputClosed = false;

  get inFlight(): number {
    return this.unacked.length;
  }

  expire(before: number, timeoutMs: number): void {
    const oldest = this.unacked[0];
    if (oldest && oldest.at < before && this.stream) this.end(this.stream, ackTimeout(timeoutMs));
  }

  capacity(): number {
    if (this.closed || !this.conn.isOpen) return 0;
    const room = this.maxInFlight - this.unacked.length;
    // No channel yet: the request frame carries one command without a grant.
    if (!this.stream) return Math.min(room, 1);
    if (this.inputClosed || this.stream.outboundDone) return 0;
    return Math.max(0, Math.min(room, this.stream.sendCredit === Infinity ? room : this.stream.sendCredit));
  }

  send(d: Delivery): void {
    this.unacked.push({ d, at: Date.now() });
    if (!this.stream) {
      this.open(d);
      return;
    }
    this.stream.next(d.payload);
  }

  close(error: SluiceError): void {
    if (this.closed) return;
    this.closed = true;
    const s = this.stream;
    this.stream = undefined;
    if (s && !s.closed) s.cancel();
    this.failAll(error);
  }

  private open(first: Delivery): void {
    this.inputClosed = false;
    // Replies are small and settled at once: grant one per command the link may hold.
    const s = this.conn.requestChannel(first.payload, this.maxInFlight, false, {
      onNext: () => {
        const d = this.unacked.shift()?.d;
        if (!d) {
          this.end(s, new SluiceError('INVALID_ARGUMENT', 'durable channel: a reply with no command waiting for it'));
          return;
        }
        this.events.acked(d);
        s.request(1);
        this.events.demandChanged();
      },
      onComplete: () => this.end(s, new SluiceError('UNAVAILABLE', 'the instance completed the durable channel with commands unacknowledged')),
      onError: (e) => this.end(s, e),
      onRequest: () => this.events.demandChanged(),
      onCancel: () => {
        // The instance takes no more commands here; once those in flight are acked the channel is replaced.
        this.inputClosed = true;
        if (this.unacked.length === 0) this.end(s, undefined);
      },
    });
    this.stream = s;
  }

  /** The channel is over: what it had not acked fails, and the next command opens a new one. */
  private end(s: Stream, error: SluiceError | undefined): void {
    if (this.stream !== s) return;
    this.stream = undefined;
    if (!s.closed) s.cancel();
    this.failAll(error ?? new SluiceError('UNAVAILABLE', 'durable channel ended'));
    this.events.demandChanged();
  }

  private failAll(error: SluiceError): void {
    for (const { d } of this.unacked.splice(0)) this.events.failed(d, error);
  }
}

export class ResponseLink extends LinkBase implements DeliveryLink {
  /** Calls under way in the order they were made: the oldest first. */
  private readonly calls = new Map<Delivery, { stream: Stream; at: number; settle(error: SluiceError): void }>();

  get inFlight(): number {
    return this.calls.size;
  }

  expire(before: number, timeoutMs: number): void {
    for (const c of this.calls.values()) {
      if (c.at >= before) break;
      if (!c.stream.closed) c.stream.cancel();
      c.settle(ackTimeout(timeoutMs));
    }
  }

  capacity(): number {
    if (this.closed || !this.conn.isOpen || !this.conn.writable) return 0;
    return Math.max(0, this.maxInFlight - this.calls.size);
  }

  send(d: Delivery): void {
    let settled = false;
    const settle = (error: SluiceError | undefined) => {
      if (settled) return;
      settled = true;
      this.calls.delete(d);
      if (error) this.events.failed(d, error);
      else this.events.acked(d);
      this.events.demandChanged();
    };
    const s = this.conn.requestResponse(d.payload, {
      onNext: () => settle(undefined),
      onComplete: () => settle(undefined),
      onError: (e) => settle(e),
      onRequest: () => {},
      onCancel: () => {},
    });
    if (!settled) this.calls.set(d, { stream: s, at: Date.now(), settle });
  }

  close(error: SluiceError): void {
    if (this.closed) return;
    this.closed = true;
    for (const [d, c] of [...this.calls]) {
      this.calls.delete(d);
      if (!c.stream.closed) c.stream.cancel();
      this.events.failed(d, error);
    }
  }
}

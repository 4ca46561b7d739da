/**
 * Publishes durable commands to JetStream with many acknowledgements
 * outstanding at once. nats.js's `js.publish` is a request: per message it
 * makes a timer and two Error objects (for their stack traces), which was a
 * large share of the gateway's CPU per durable command. Here one wildcard
 * inbox subscription receives every PubAck, matched to its command by the
 * reply token; one sweep timer fails the acknowledgements overdue; and the
 * number outstanding is bounded (beyond, OVERLOADED with a retry hint).
 * The guarantee is unchanged: a command counts as persisted only once its
 * PubAck arrived.
 */
import { createInbox, headers, type Msg, type NatsConnection, type Subscription } from '@nats-io/transport-node';
import { SluiceError } from '../errors.js';

/** What JetStream answered for one published command. */
export interface PubAck {
  /** The command's sequence in its stream. */
  seq: number;
  /** True when its `Nats-Msg-Id` was seen within the stream's duplicate window: nothing new was stored. */
  duplicate: boolean;
}

export interface PublisherOptions {
  /** Ms a PubAck may take before the publish fails UNAVAILABLE (the command may still have been stored: a retry with the same idempotency key is deduplicated). */
  timeoutMs: number;
  /** PubAcks outstanding at most; a publish beyond is refused OVERLOADED. */
  maxPending: number;
}

interface Waiter {
  readonly at: number;
  readonly subject: string;
  resolve(a: PubAck): void;
  reject(e: SluiceError): void;
}

/** Ms the refusal at the window's bound asks the client to wait. */
const RETRY_AFTER_MS = 100;

export class JetStreamPublisher {
  private readonly prefix = createInbox();
  /** Outstanding PubAcks by reply token; Map order is publish order, so the oldest are first. */
  private readonly pending = new Map<number, Waiter>();
  private nextToken = 1;
  private readonly sub: Subscription;
  private sweep: ReturnType<typeof setInterval> | undefined;
  private closed = false;

  constructor(
    private readonly nc: NatsConnection,
    private readonly options: PublisherOptions,
  ) {
    this.sub = nc.subscribe(`${this.prefix}.*`, { callback: (err, msg) => (err ? this.failAll(err) : this.onReply(msg)) });
  }

  /** PubAcks awaited now. */
  get outstanding(): number {
    return this.pending.size;
  }

  /** Publishes `body` on `subject` (deduplicated by `msgId` when given); resolves once JetStream stored it. */
  publish(subject: string, body: Uint8Array, msgId?: string): Promise<PubAck> {
    if (this.closed) return Promise.reject(new SluiceError('UNAVAILABLE', 'the JetStream connection is closing'));
    if (this.pending.size >= this.options.maxPending) {
      return Promise.reject(
        new SluiceError('OVERLOADED', `${this.pending.size} commands are waiting for JetStream to persist them, the gateway's bound; retry after ${RETRY_AFTER_MS} ms`, {
          details: { retryAfterMs: RETRY_AFTER_MS },
        }),
      );
    }
    const token = this.nextToken++;
    let h: ReturnType<typeof headers> | undefined;
    if (msgId !== undefined) {
      h = headers();
      h.set('Nats-Msg-Id', msgId);
    }
    return new Promise<PubAck>((resolve, reject) => {
      this.pending.set(token, { at: Date.now(), subject, resolve, reject });
      try {
        this.nc.publish(subject, body, { reply: `${this.prefix}.${token}`, ...(h ? { headers: h } : {}) });
      } catch (err) {
        this.pending.delete(token);
        reject(new SluiceError('UNAVAILABLE', `JetStream publish failed: ${(err as Error).message}`, { cause: err }));
        return;
      }
      this.armSweep();
    });
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.sub.unsubscribe();
    this.failAll(new Error('the JetStream connection is closing'));
  }

  private onReply(msg: Msg): void {
    const token = Number(msg.subject.slice(this.prefix.length + 1));
    const w = this.pending.get(token);
    if (!w) return;
    this.pending.delete(token);
    if (msg.headers?.hasError) {
      // 503: nothing listens on the subject (no stream); the stream's leader may be moving.
      w.reject(new SluiceError('UNAVAILABLE', `JetStream did not persist the command on '${w.subject}' (${msg.headers.code} ${msg.headers.description})`));
      return;
    }
    let ack: { seq?: number; duplicate?: boolean; error?: { code?: number; err_code?: number; description?: string } };
    try {
      ack = msg.json();
    } catch {
      w.reject(new SluiceError('UNAVAILABLE', `JetStream answered the publish on '${w.subject}' with something other than a PubAck`));
      return;
    }
    if (ack.error || typeof ack.seq !== 'number') {
      const description = ack.error?.description ?? 'no sequence in the PubAck';
      // 10077 (maximum messages) and 10078 (maximum bytes): the stream is at its bound and refuses new messages.
      if (/maximum (messages|bytes)/i.test(description)) {
        w.reject(new SluiceError('OVERLOADED', description, { details: { retryAfterMs: 1_000 } }));
      } else {
        w.reject(new SluiceError('UNAVAILABLE', `JetStream did not persist the command on '${w.subject}' (${description})`));
      }
      return;
    }
    w.resolve({ seq: ack.seq, duplicate: ack.duplicate === true });
  }

  /** One timer for every outstanding PubAck: the oldest are checked, and it stops when none is left. */
  private armSweep(): void {
    if (this.sweep) return;
    const every = Math.max(10, Math.min(1_000, Math.floor(this.options.timeoutMs / 4)));
    this.sweep = setInterval(() => {
      const now = Date.now();
      for (const [token, w] of this.pending) {
        if (now - w.at < this.options.timeoutMs) break;
        this.pending.delete(token);
        w.reject(new SluiceError('UNAVAILABLE', `JetStream did not acknowledge the command on '${w.subject}' within ${this.options.timeoutMs} ms; it may have been stored (a retry with the same idempotency key is deduplicated)`));
      }
      if (this.pending.size === 0) {
        clearInterval(this.sweep);
        this.sweep = undefined;
      }
    }, every);
    this.sweep.unref();
  }

  private failAll(err: Error): void {
    clearInterval(this.sweep);
    this.sweep = undefined;
    for (const [token, w] of this.pending) {
      this.pending.delete(token);
      w.reject(new SluiceError('UNAVAILABLE', `JetStream publish failed: ${err.message}`, { cause: err }));
    }
  }
}

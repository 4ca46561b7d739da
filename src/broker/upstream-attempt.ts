/**
 * One attempt of a forwarded interaction on one instance: the upstream
 * stream, the demand bridges that carry demand across the hop, the items the
 * producer sent ahead of the requester's demand (counted by the bridge,
 * stored here: one owner for both), and the breaker verdict on the instance.
 * Ending the attempt gives all of it back at once. Whether to retry, answer
 * or dead-letter is the interaction's business (forwarding.ts); the attempt
 * reports what happened through its events.
 */
import { SluiceError } from '../errors.js';
import { DemandBridge } from '../flow/demand-bridge.js';
import type { PrefetchBudget } from '../flow/prefetch-budget.js';
import type { MemoryBudget } from '../rsocket/memory-budget.js';
import type { Payload } from '../protocol/frames.js';
import type { InteractionModel, Stream, StreamHandler } from '../rsocket/stream.js';
import type { RouteCounters } from '../observability/metrics.js';
import type { CircuitBreaker } from '../resilience/circuit-breaker.js';
import type { Instance } from './registry.js';

/** How the bridges of every attempt are sized (the gateway's `flow` settings). */
export interface BridgeSettings {
  readonly window: number;
  readonly windowBytes: number;
  /** Items asked of a producer beyond its consumer's demand, per stream (the responder's output only). */
  readonly prefetch: number;
  readonly prefetchBudget: PrefetchBudget | undefined;
  /** Largest payload a producer may send, in bytes: sizes a stream's window before its first item. */
  readonly maxItemBytes: number | undefined;
  /** Gateway-wide bound on bytes held for peers; each stream's held items report to it. */
  readonly memory: MemoryBudget | undefined;
}

/** What the attempt tells its interaction. */
export interface AttemptEvents {
  /** The producer sent an item (about to be passed on or held). */
  item(): void;
  /** Request-response: the answer, as it goes to the requester. */
  answer(item: Uint8Array | Payload): void;
  /** The attempt failed: `reached` is false when the request never left the gateway. */
  failed(error: SluiceError, reached: boolean): void;
  /** The memory budget chose this attempt's held items to free. */
  shed(reason: string): void;
  /** Something closed: the interaction checks whether it is over. */
  settle(): void;
  /** A payload reached the requester (given only when someone counts them: the interaction's span). */
  delivered?(): void;
}

export class UpstreamAttempt {
  private up: Stream | undefined;
  private toRequester: DemandBridge | undefined;
  private toResponder: DemandBridge | undefined;
  /** The producer's payloads sent ahead of the requester's demand, oldest first (at most the window). */
  private readonly heldItems: (Uint8Array | Payload)[] = [];
  /** The producer's completion, waiting until the held items are delivered. */
  private heldEnd: (() => void) | undefined;
  private judged: boolean;
  private readonly startedAt = performance.now();
  private ended = false;

  constructor(
    readonly instance: Instance,
    private readonly breaker: CircuitBreaker | undefined,
    private readonly model: InteractionModel,
    private readonly down: Stream,
    private readonly counters: RouteCounters,
    private readonly settings: BridgeSettings,
    private readonly events: AttemptEvents,
  ) {
    this.judged = breaker === undefined;
  }

  /** Whether the upstream stream exists and has ended both ways. */
  get closed(): boolean {
    return this.up?.closed ?? false;
  }

  /** Whether the upstream stream was opened. */
  get opened(): boolean {
    return this.up !== undefined;
  }

  /** The bridge carrying the producer's payloads to the requester (streams and channels). */
  get requesterBridge(): DemandBridge | undefined {
    return this.toRequester;
  }

  /** Opens the upstream stream; a refusal is reported as an unreached failure, never thrown. */
  open(payload: Payload, inputComplete: boolean): void {
    const upConn = this.instance.connection;
    const downConn = this.down.host;
    const handler = this.upHandler();
    const s = this.settings;
    try {
      if (this.model === 'response') {
        this.up = upConn.requestResponse(payload, handler);
        return;
      }
      this.toRequester = new DemandBridge({
        window: s.window,
        windowBytes: s.windowBytes,
        prefetch: s.prefetch,
        ...(s.prefetchBudget ? { budget: s.prefetchBudget } : {}),
        ...(s.maxItemBytes ? { maxItemBytes: s.maxItemBytes } : {}),
        ...(s.memory ? { memory: s.memory.holder('prefetch', { shed: (reason) => this.events.shed(reason) }) } : {}),
        requestUpstream: (n) => this.up?.request(n),
        writable: () => downConn.writable,
        whenWritable: (fn) => downConn.whenWritable(fn),
      });
      const initial = this.toRequester.open(this.down.sendCredit);
      if (this.model === 'stream') {
        this.up = upConn.requestStream(payload, initial, handler);
        return;
      }
      this.toResponder = new DemandBridge({
        window: s.window,
        windowBytes: s.windowBytes,
        ...(s.maxItemBytes ? { maxItemBytes: s.maxItemBytes } : {}),
        requestUpstream: (n) => this.down.request(n),
        writable: () => upConn.writable,
        whenWritable: (fn) => upConn.whenWritable(fn),
      });
      this.up = upConn.requestChannel(payload, initial, inputComplete, handler);
    } catch (err) {
      // The instance's connection refused the stream (closed, or at its stream limit), or the
      // request could not be written: an attempt failure either way, never an exception escaping
      // into a timer or promise callback (that would take the process down). The instance never
      // saw the request, so its breaker does not judge it.
      this.events.failed(describeUpstreamError(this.instance, SluiceError.from(err)), false);
    }
  }

  /** The requester asked for `n` more: held items first, then the rest of the demand upstream. */
  requesterDemand(n: number): void {
    this.toRequester?.onRequest(n, () => this.sendDown(this.heldItems.shift()!));
    if (this.heldItems.length === 0 && this.heldEnd) {
      const end = this.heldEnd;
      this.heldEnd = undefined;
      end();
    }
  }

  /** Channel: one input payload from the requester. */
  input(payload: Payload, frame: Uint8Array | undefined): void {
    if (!this.up) return;
    this.counters.toResponder++;
    if (frame) this.up.forward(frame);
    else this.up.next(payload);
    this.toResponder?.onItem(frame?.length ?? size(payload));
  }

  /** Channel: the requester ended its input. */
  completeInput(): void {
    this.up?.complete();
  }

  /** Cancels the upstream stream if it is still open. */
  cancel(): void {
    if (this.up && !this.up.closed) this.up.cancel();
  }

  /** Items (and their bytes) held for the requester ahead of its demand. */
  /** Items the producer sent ahead of the requester's demand, held now. */
  get heldCount(): number {
    return this.heldItems.length;
  }

  held(): { items: number; bytes: number } {
    const b = this.toRequester;
    return b ? { items: b.held, bytes: b.heldBytes } : { items: 0, bytes: 0 };
  }

  /** Records the outcome in the instance's breaker, once. */
  judge(success: boolean): void {
    if (this.judged || !this.breaker) return;
    this.judged = true;
    const duration = performance.now() - this.startedAt;
    if (success) this.breaker.onSuccess(duration);
    else this.breaker.onFailure(duration);
  }

  /** Ends unjudged: frees a half-open probe slot without counting as a success or failure. */
  unjudge(): void {
    if (this.judged) return;
    this.judged = true;
    this.breaker?.release();
  }

  /** Gives back the bridges and held items; returns the average item size seen, for stats. */
  end(): number {
    this.ended = true;
    const average = this.toRequester?.averageItemBytes ?? 0;
    this.toRequester?.stop();
    this.toResponder?.stop();
    this.heldItems.length = 0;
    this.heldEnd = undefined;
    this.toRequester = undefined;
    this.toResponder = undefined;
    this.up = undefined;
    return average;
  }

  private upHandler(): StreamHandler {
    return {
      onNext: (payload, frame) => {
        if (this.ended) return;
        this.judge(true);
        this.events.item();
        const bridge = this.toRequester;
        if (!bridge) {
          this.events.answer(frame ?? payload);
          this.sendDown(frame ?? payload);
        } else if (bridge.arrive(frame?.length ?? size(payload))) this.sendDown(frame ?? payload);
        // The frame may be a view into a larger socket read: a copy holds only its own bytes.
        else this.heldItems.push(frame ? new Uint8Array(frame) : payload);
        this.events.settle();
      },
      onComplete: () => {
        if (this.ended) return;
        this.judge(true);
        if (this.heldItems.length) {
          this.heldEnd = () => this.down.complete();
          return;
        }
        this.down.complete();
        this.events.settle();
      },
      // At once, whatever is held: an error needs no demand, and the held items were asked for by
      // the gateway, not the requester (without the hop the producer would not have sent them yet).
      onError: (error) => {
        if (!this.ended) this.events.failed(describeUpstreamError(this.instance, error), true);
      },
      // Channel only: the instance grants the requester more input.
      onRequest: (n) => this.toResponder?.onRequest(n),
      // Channel only: the instance wants no more input.
      onCancel: () => {
        if (this.ended) return;
        this.down.cancel();
        this.events.settle();
      },
    };
  }

  /** Sends one payload from the producer to the requester; returns its size in bytes. */
  private sendDown(item: Uint8Array | Payload): number {
    this.counters.toRequester++;
    this.events.delivered?.();
    if (item instanceof Uint8Array) {
      this.down.forward(item);
      return item.length;
    }
    this.down.next(item, this.model === 'response');
    return size(item);
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

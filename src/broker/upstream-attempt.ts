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
import { DemandBridge, type DemandBridgeOptions } from '../flow/demand-bridge.js';
import type { PrefetchBudget } from '../flow/prefetch-budget.js';
import type { HolderOptions, MemoryBudget, MemoryHolder } from '../rsocket/memory-budget.js';
import type { Payload } from '../protocol/frames.js';
import type { InteractionModel, Stream, StreamHandler } from '../rsocket/stream.js';
import type { RouteCounters } from '../observability/metrics.js';
import type { CircuitBreaker } from '../resilience/circuit-breaker.js';
import type { Instance } from './registry.js';
import { copyBytes } from './own-bytes.js';

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

/**
 * What the attempt tells its interaction: methods of one long-lived object
 * (the interaction itself), not closures made per attempt, so an open stream
 * costs no function objects at the gateway.
 */
export interface AttemptEvents {
  /** The producer sent an item (about to be passed on or held). */
  attemptItem(): void;
  /** Request-response: the answer, as it goes to the requester. */
  attemptAnswer(item: Uint8Array | Payload): void;
  /** The attempt failed: `reached` is false when the request never left the gateway. */
  attemptFailed(attempt: UpstreamAttempt, error: SluiceError, reached: boolean): void;
  /** The memory budget chose this attempt's held items to free. */
  attemptShed(reason: string): void;
  /** Something closed: the interaction checks whether it is over. */
  attemptSettled(attempt: UpstreamAttempt): void;
  /** A payload reached the requester. */
  attemptDelivered(): void;
}

/**
 * Also the upstream stream's handler, the bridge's options for the direction
 * to the requester and the memory budget's holder callbacks: one object per
 * attempt instead of a handler, an options object and their closures (a
 * gateway holding a million streams pays for every per-stream allocation).
 */
export class UpstreamAttempt implements StreamHandler, DemandBridgeOptions, HolderOptions {
  private up: Stream | undefined;
  private toRequester: DemandBridge | undefined;
  private toResponder: DemandBridge | undefined;
  /**
   * The oldest payload the producer sent ahead of the requester's demand, and
   * the ones after it, oldest first (at most the window in all). An open
   * stream paced one item at a time holds one: it costs a field, not an
   * array and its backing store; the array is made at the second.
   */
  private heldFirst: Uint8Array | Payload | undefined;
  /**
   * The rest, a ring: `heldCount - 1` items from `heldHead`. A ring rather
   * than an array's push and shift: at prefetch depths where the producer
   * runs ahead, most relayed items pass through here, and `shift` on an array
   * of more than a few dozen items moves them all (V8's slow path). Grows by
   * doubling while full; never beyond the window, which bounds the held items.
   */
  private heldRest: (Uint8Array | Payload | undefined)[] | undefined;
  private heldHead = 0;
  private heldMore = 0;
  /** This attempt's share of the gateway memory budget (its held items), when there is a budget. */
  memory: MemoryHolder | undefined;
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
    const s = this.settings;
    try {
      if (this.model === 'response') {
        this.up = upConn.requestResponse(payload, this);
        this.up.relaysFrames = true;
        return;
      }
      this.memory = s.memory?.holder('prefetch', this);
      this.toRequester = new DemandBridge(this);
      const initial = this.toRequester.open(this.down.sendCredit);
      if (this.model === 'stream') {
        this.up = upConn.requestStream(payload, initial, this);
        this.up.relaysFrames = true;
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
      this.up = upConn.requestChannel(payload, initial, inputComplete, this);
      this.up.relaysFrames = true;
    } catch (err) {
      // The instance's connection refused the stream (closed, or at its stream limit), or the
      // request could not be written: an attempt failure either way, never an exception escaping
      // into a timer or promise callback (that would take the process down). The instance never
      // saw the request, so its breaker does not judge it.
      this.events.attemptFailed(this, describeUpstreamError(this.instance, SluiceError.from(err)), false);
    }
  }

  // ---------------------------------------------- options of the bridge to the requester

  /** @internal */
  get window(): number {
    return this.settings.window;
  }
  /** @internal */
  get windowBytes(): number {
    return this.settings.windowBytes;
  }
  /** @internal */
  get prefetch(): number {
    return this.settings.prefetch;
  }
  /** @internal */
  get budget(): PrefetchBudget | undefined {
    return this.settings.prefetchBudget;
  }
  /** @internal */
  get maxItemBytes(): number | undefined {
    return this.settings.maxItemBytes;
  }
  /** @internal The bridge asks the producer for `n` more. */
  requestUpstream(n: number): void {
    this.up?.request(n);
  }
  /** @internal */
  writable(): boolean {
    return this.down.host.writable;
  }
  /** @internal */
  whenWritable(fn: () => void): () => void {
    return this.down.host.whenWritable(fn);
  }
  /** @internal The memory budget frees this attempt's held items. */
  shed(reason: string): void {
    this.events.attemptShed(reason);
  }

  /** The requester asked for `n` more: held items first, then the rest of the demand upstream. */
  requesterDemand(n: number): void {
    this.toRequester?.onRequest(n, this.heldFirst ? () => this.sendDown(this.takeHeld()) : undefined);
    if (this.heldEnd && !this.heldFirst) {
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
    return this.heldFirst ? 1 + this.heldMore : 0;
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
    this.heldFirst = undefined;
    this.heldRest = undefined;
    this.heldHead = 0;
    this.heldMore = 0;
    this.heldEnd = undefined;
    this.toRequester = undefined;
    this.toResponder = undefined;
    this.up = undefined;
    return average;
  }

  // ---------------------------------------------- the upstream stream's handler

  /**
   * @internal The producer sent a payload. With a whole frame, only `frame` is read (the upstream
   * stream is marked `relaysFrames`, so `payload` is then empty): it goes on with its stream id rewritten.
   */
  onNext(payload: Payload, frame: Uint8Array | undefined): void {
    if (this.ended) return;
    this.judge(true);
    this.events.attemptItem();
    const bridge = this.toRequester;
    if (!bridge) {
      this.events.attemptAnswer(frame ?? payload);
      this.sendDown(frame ?? payload);
    } else if (bridge.arrive(frame?.length ?? size(payload))) this.sendDown(frame ?? payload);
    // The frame may be a view into a larger socket read: a copy holds only its own bytes (own-bytes.ts).
    else this.hold(frame ? copyBytes(frame) : payload);
    this.events.attemptSettled(this);
  }

  /** @internal */
  onComplete(): void {
    if (this.ended) return;
    this.judge(true);
    if (this.heldFirst) {
      this.heldEnd = () => this.down.complete();
      return;
    }
    this.down.complete();
    this.events.attemptSettled(this);
  }

  /**
   * @internal At once, whatever is held: an error needs no demand, and the held items were asked
   * for by the gateway, not the requester (without the hop the producer would not have sent them yet).
   */
  onError(error: SluiceError): void {
    if (!this.ended) this.events.attemptFailed(this, describeUpstreamError(this.instance, error), true);
  }

  /** @internal Channel only: the instance grants the requester more input. */
  onRequest(n: number): void {
    this.toResponder?.onRequest(n);
  }

  /** @internal Channel only: the instance wants no more input. */
  onCancel(): void {
    if (this.ended) return;
    this.down.cancel();
    this.events.attemptSettled(this);
  }

  /** Keeps one payload until the requester asks for it, after those already held. */
  private hold(item: Uint8Array | Payload): void {
    if (!this.heldFirst) {
      this.heldFirst = item;
      return;
    }
    let ring = this.heldRest;
    if (!ring) ring = this.heldRest = new Array<Uint8Array | Payload | undefined>(4).fill(undefined);
    else if (this.heldMore === ring.length) ring = this.heldRest = this.grownRing(ring);
    ring[(this.heldHead + this.heldMore) & (ring.length - 1)] = item;
    this.heldMore++;
  }

  /** `ring` (full) copied, oldest first, into one twice its size (lengths stay powers of two). */
  private grownRing(ring: (Uint8Array | Payload | undefined)[]): (Uint8Array | Payload | undefined)[] {
    const grown = new Array<Uint8Array | Payload | undefined>(ring.length * 2).fill(undefined);
    for (let i = 0; i < ring.length; i++) grown[i] = ring[(this.heldHead + i) & (ring.length - 1)];
    this.heldHead = 0;
    return grown;
  }

  /** The oldest held payload (there is one), taken out. */
  private takeHeld(): Uint8Array | Payload {
    const item = this.heldFirst!;
    const ring = this.heldRest;
    if (ring && this.heldMore > 0) {
      this.heldFirst = ring[this.heldHead];
      ring[this.heldHead] = undefined;
      this.heldHead = (this.heldHead + 1) & (ring.length - 1);
      this.heldMore--;
    } else this.heldFirst = undefined;
    return item;
  }

  /** Sends one payload from the producer to the requester; returns its size in bytes. */
  private sendDown(item: Uint8Array | Payload): number {
    this.counters.toRequester++;
    this.events.attemptDelivered();
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

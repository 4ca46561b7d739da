/**
 * Feed a responder stream from what a handler returned, never sending more
 * than the peer requested:
 *
 * - an AsyncIterable (async generator) is pulled one item at a time and only
 *   while there is demand and the connection takes bytes, so the producer
 *   runs exactly at the consumer's pace;
 * - an Observable cannot be paused, so what it emits beyond demand waits in a
 *   bounded buffer; at the limit the overflow policy decides (default:
 *   end the stream with BUFFER_OVERFLOW).
 *
 * Isomorphic.
 */
import { Subject, takeUntil, type Observable } from 'rxjs';
import { SluiceError } from '../errors.js';

const LAST = Symbol.for('sluice.lastItem');

/** An item that is also the end of its stream (PAYLOAD with NEXT and COMPLETE). */
export interface LastItem<T> {
  readonly [LAST]: true;
  readonly value: T;
}

/**
 * Wraps the final item of an AsyncIterable stream so that completion travels
 * with it. An async generator's end is otherwise only seen at the next pull,
 * and pulls happen only with demand: a consumer that requested exactly as many
 * items as there are would wait for the completion until it requested more.
 */
export function lastItem<T>(value: T): LastItem<T> {
  return { [LAST]: true, value };
}

function isLastItem(v: unknown): v is LastItem<unknown> {
  return typeof v === 'object' && v !== null && (v as Record<symbol, unknown>)[LAST] === true;
}

/** The sending side of a responder stream, as the emitters see it. */
export interface Outbound<T> {
  /** Items the peer requested and we have not sent. */
  readonly credit: number;
  readonly writable: boolean;
  whenWritable(fn: () => void): () => void;
  /** Sends an item; `last` also completes the stream. */
  send(item: T, last?: boolean): void;
  complete(): void;
  error(error: SluiceError): void;
}

export interface Emitter {
  /** The peer requested more. */
  onRequest(): void;
  /** The peer cancelled: stop producing and release the source. */
  cancel(): void;
}

/**
 * What happens when an Observable outruns demand and its buffer is full:
 * `error` ends the stream with BUFFER_OVERFLOW (nothing is lost silently),
 * `drop-newest` discards the arriving item, `drop-oldest` the oldest buffered
 * one; both drop policies count what they discard.
 */
export type OverflowPolicy = 'error' | 'drop-newest' | 'drop-oldest';

export interface ObservableEmitterOptions {
  /** Items buffered beyond demand, at most. Default 256. */
  bufferSize?: number;
  /** Default 'error'. */
  overflow?: OverflowPolicy;
  /** Called for each item a drop policy discards. */
  onDrop?: () => void;
}

export function emitIterable<T>(source: AsyncIterable<T | LastItem<T>>, out: Outbound<T>): Emitter {
  const emitter = new IterableEmitter(source[Symbol.asyncIterator](), out);
  void emitter.loop();
  return emitter;
}

/**
 * Pulls an async iterator while there is demand and room. A class rather
 * than closures over locals: a service opening many streams makes one of
 * these per stream, and each closure was an allocation of its own.
 */
class IterableEmitter<T> implements Emitter {
  private stopped = false;
  /** Resolves the pending wait for demand or room. */
  private wake: (() => void) | undefined;
  private unwatch: (() => void) | undefined;

  constructor(
    private readonly iterator: AsyncIterator<T | LastItem<T>>,
    private readonly out: Outbound<T>,
  ) {}

  async loop(): Promise<void> {
    const out = this.out;
    try {
      for (;;) {
        while (!this.stopped && (out.credit <= 0 || !out.writable)) {
          await this.waitForRoom();
          // Woken by a request or a drain: the other wake-up is not wanted any more.
          this.stopWatching();
        }
        if (this.stopped) return;
        const result = await this.iterator.next();
        if (this.stopped) return;
        if (result.done) {
          out.complete();
          return;
        }
        if (isLastItem(result.value)) {
          out.send(result.value.value as T, true);
          this.stopped = true;
          this.returnIterator();
          return;
        }
        out.send(result.value);
      }
    } catch (err) {
      if (!this.stopped) out.error(SluiceError.from(err));
    }
  }

  onRequest(): void {
    const w = this.wake;
    this.wake = undefined;
    w?.();
  }

  cancel(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.stopWatching();
    this.wake?.();
    this.returnIterator();
  }

  private waitForRoom(): Promise<void> {
    return new Promise<void>((resolve) => {
      this.wake = resolve;
      if (this.out.credit > 0 && !this.out.writable) this.unwatch = this.out.whenWritable(resolve);
    });
  }

  private stopWatching(): void {
    this.unwatch?.();
    this.unwatch = undefined;
  }

  private returnIterator(): void {
    void Promise.resolve(this.iterator.return?.()).catch(() => {});
  }
}

export function emitObservable<T>(source: Observable<T>, out: Outbound<T>, options: ObservableEmitterOptions = {}): Emitter {
  const capacity = options.bufferSize ?? 256;
  const policy = options.overflow ?? 'error';
  const buffer: T[] = [];
  const stop$ = new Subject<void>();
  let terminal: { error?: SluiceError } | undefined;
  // Set once the stream is over for us: terminal signal sent, overflowed or cancelled.
  let done = false;

  const unsubscribe = () => {
    stop$.next();
    stop$.complete();
  };
  // An item that cannot be sent (it does not encode) ends the stream: thrown inside the
  // subscriber, RxJS would rethrow it from a timer and kill the process.
  const send = (item: T): boolean => {
    try {
      out.send(item);
      return true;
    } catch (err) {
      done = true;
      buffer.length = 0;
      unsubscribe();
      out.error(SluiceError.from(err));
      return false;
    }
  };
  const flush = () => {
    if (done) return;
    while (buffer.length > 0 && out.credit > 0) if (!send(buffer.shift() as T)) return;
    if (buffer.length > 0 || !terminal) return;
    done = true;
    if (terminal.error) out.error(terminal.error);
    else out.complete();
  };
  const enqueue = (item: T) => {
    if (buffer.length < capacity) {
      buffer.push(item);
      return;
    }
    if (policy === 'error') {
      done = true;
      buffer.length = 0;
      unsubscribe();
      out.error(new SluiceError('BUFFER_OVERFLOW', `producer outran demand: ${capacity} items buffered and the consumer requested no more`));
      return;
    }
    options.onDrop?.();
    if (policy === 'drop-oldest') {
      buffer.shift();
      buffer.push(item);
    }
  };

  source.pipe(takeUntil(stop$)).subscribe({
    next: (item) => {
      if (done) return;
      if (buffer.length === 0 && out.credit > 0) send(item);
      else enqueue(item);
    },
    error: (err: unknown) => {
      terminal = { error: SluiceError.from(err) };
      flush();
    },
    complete: () => {
      terminal ??= {};
      flush();
    },
  });

  return {
    onRequest: flush,
    cancel() {
      if (done) return;
      done = true;
      buffer.length = 0;
      unsubscribe();
    },
  };
}

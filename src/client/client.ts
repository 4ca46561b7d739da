/**
 * The Sluice client API, shared by the Node and browser entries and by
 * services calling other routes. JSON in, JSON out; demand is explicit:
 *
 * - `requestStream` is an Observable that requests `prefetch` items, then
 *   tops up in batches of prefetch / 2 as its subscriber takes them;
 * - `iterateStream` is an AsyncIterable that requests only as the consumer
 *   pulls (the right shape for slow, async consumers);
 * - `requestChannel` sends its input only as fast as the responder grants.
 *
 * Nothing is queued while disconnected: calls fail fast with UNAVAILABLE.
 * A request-response whose connection is lost after it was sent fails with
 * OUTCOME_UNKNOWN, unless the caller marked it `idempotent`: then it is
 * sent again on the next connection (another gateway of a fleet), at most
 * `failover.retries` times.
 */
import { Observable, isObservable } from 'rxjs';
import { SluiceError } from '../errors.js';
import { PullQueue } from '../flow/pull-queue.js';
import { decodeJson, encodeJson } from '../protocol/json.js';
import { routeMetadata, type MetadataEntry } from '../protocol/metadata.js';
import { traceContextEntry, type TraceContext } from '../protocol/trace-context.js';
import type { Payload } from '../protocol/frames.js';
import type { Connection } from '../rsocket/connection.js';
import type { Stream, StreamHandler } from '../rsocket/stream.js';
import { pumpChannelInput, type ChannelInputSource } from './channel-input.js';

export interface CallOptions {
  /** Extra composite metadata entries (deadline, ...). */
  metadata?: readonly MetadataEntry[];
  /**
   * W3C trace context to send with the request (`traceparent`, optional
   * `tracestate`): the gateway's and the service's spans become its
   * children. A service passes `ctx.trace`; an application its current
   * span's context. Throws RangeError when `traceparent` is malformed.
   */
  trace?: TraceContext | undefined;
  /** Aborting cancels the interaction. */
  signal?: AbortSignal;
}

export interface RequestOptions extends CallOptions {
  /**
   * Safe to carry out twice (the service tolerates duplicates): when the
   * connection is lost before the answer, the request is sent again on the
   * next connection. Default false: such a loss fails the call with
   * OUTCOME_UNKNOWN.
   */
  idempotent?: boolean;
}

export interface StreamOptions extends CallOptions {
  /** Items requested ahead of the consumer. Default 256 (Observable), 16 (iterator). */
  prefetch?: number;
}

export interface ChannelOptions extends StreamOptions {
  /** Observable input only: items held while the responder grants none; over it, BUFFER_OVERFLOW. Default 256. */
  inputBufferSize?: number;
}

/** Where the client gets its live connection from. */
export interface ConnectionSource {
  readonly current: Connection | undefined;
  /** The open connection, or the next one within `timeoutMs` (a source that reconnects); rejects when none comes. */
  nextConnection?(timeoutMs: number): Promise<Connection>;
}

/** How idempotent request-responses outlive a lost connection. */
export interface FailoverOptions {
  /** Times one idempotent request-response is sent again after losing its connection. Default 2, range 0-10. */
  retries: number;
  /** Ms a retry waits for the next connection before failing with UNAVAILABLE. Default 5000, range 0-600000. */
  waitMs: number;
}

export const defaultFailover: FailoverOptions = { retries: 2, waitMs: 5_000 };

/** Defaults merged and every value checked; throws INVALID_ARGUMENT naming the option. */
export function resolveFailover(options: Partial<FailoverOptions> = {}): FailoverOptions {
  const o = { ...defaultFailover, ...options };
  if (!Number.isInteger(o.retries) || o.retries < 0 || o.retries > 10) throw new SluiceError('INVALID_ARGUMENT', `failover.retries must be an integer from 0 to 10, got ${o.retries}`);
  if (!Number.isInteger(o.waitMs) || o.waitMs < 0 || o.waitMs > 600_000) throw new SluiceError('INVALID_ARGUMENT', `failover.waitMs must be an integer from 0 to 600000 ms, got ${o.waitMs}`);
  return o;
}

const noop = (): void => {};

export class SluiceClient {
  private readonly routeCache = new Map<string, Uint8Array>();
  private readonly failover: FailoverOptions;

  constructor(
    private readonly source: ConnectionSource,
    failover: Partial<FailoverOptions> = {},
  ) {
    this.failover = resolveFailover(failover);
  }

  /** True while a connection is up. */
  get connected(): boolean {
    return this.source.current?.isOpen ?? false;
  }

  requestResponse<T = unknown>(route: string, data?: unknown, options: RequestOptions = {}): Promise<T> {
    let payload: Payload;
    let conn: Connection;
    try {
      payload = this.payload(route, data, options);
      conn = this.connection();
    } catch (err) {
      return Promise.reject(SluiceError.from(err));
    }
    return this.sendRequest<T>(route, payload, conn, options, this.failover.retries);
  }

  /** One attempt on `conn`; a loss of `conn` before the answer retries (idempotent) or fails with OUTCOME_UNKNOWN. */
  private sendRequest<T>(route: string, payload: Payload, conn: Connection, options: RequestOptions, retries: number): Promise<T> {
    return new PendingRequest<T>(this.source, this.failover, route, payload, conn, options, retries).promise;
  }

  fireAndForget(route: string, data?: unknown, options: Pick<CallOptions, 'metadata' | 'trace'> = {}): void {
    this.connection().fireAndForget(this.payload(route, data, options));
  }

  requestStream<T = unknown>(route: string, data?: unknown, options: StreamOptions = {}): Observable<T> {
    const prefetch = positive(options.prefetch ?? 256);
    return new Observable<T>((subscriber) => {
      if (options.signal?.aborted) {
        subscriber.error(new SluiceError('CANCELED', `stream '${route}' aborted`));
        return;
      }
      let stream: Stream;
      try {
        stream = this.connection().requestStream(this.payload(route, data, options), prefetch, this.batchedReceiver(prefetch, () => stream, subscriber));
      } catch (err) {
        subscriber.error(SluiceError.from(err));
        return;
      }
      const onAbort = () => subscriber.error(new SluiceError('CANCELED', `stream '${route}' aborted`));
      options.signal?.addEventListener('abort', onAbort, { once: true });
      return () => {
        options.signal?.removeEventListener('abort', onAbort);
        if (!stream.closed) stream.cancel();
      };
    });
  }

  iterateStream<T = unknown>(route: string, data?: unknown, options: StreamOptions = {}): AsyncIterableIterator<T> {
    const prefetch = positive(options.prefetch ?? 16);
    const signal = options.signal;
    let stream: Stream | undefined;
    // Aborting ends the iteration as a `break` would; the listener goes as soon as the stream ends either way.
    const onAbort = () => void queue.return();
    const unwatch = () => signal?.removeEventListener('abort', onAbort);
    const queue = new PullQueue<T>({
      prefetch,
      initiallyOutstanding: prefetch,
      request: (n) => stream?.request(n),
      cancel: () => {
        unwatch();
        stream?.cancel();
      },
    });
    if (signal?.aborted) {
      void queue.return();
      return queue;
    }
    const fail = (e: SluiceError) => {
      unwatch();
      stream?.cancel();
      queue.error(e);
    };
    try {
      stream = this.connection().requestStream(this.payload(route, data, options), prefetch, {
        onNext: (p) => settle(() => queue.push(decodeJson(p.data) as T), (e) => fail(e)),
        onComplete: () => {
          unwatch();
          queue.complete();
        },
        onError: (e) => {
          unwatch();
          queue.error(e);
        },
        onRequest: noop,
        onCancel: noop,
      });
    } catch (err) {
      queue.error(SluiceError.from(err));
      return queue;
    }
    signal?.addEventListener('abort', onAbort, { once: true });
    return queue;
  }

  /**
   * Opens a channel: the first input item is the REQUEST_CHANNEL payload, the
   * rest follow as the responder grants demand. The result emits the
   * responder's payloads.
   */
  requestChannel<I = unknown, O = unknown>(route: string, input: Observable<I> | AsyncIterable<I>, options: ChannelOptions = {}): Observable<O> {
    const prefetch = positive(options.prefetch ?? 256);
    return new Observable<O>((subscriber) => {
      if (options.signal?.aborted) {
        subscriber.error(new SluiceError('CANCELED', `channel '${route}' aborted`));
        return;
      }
      let stream: Stream | undefined;
      const source: ChannelInputSource<I> = isObservable(input)
        ? { observable: input, bufferSize: options.inputBufferSize ?? 256 }
        : { iterable: input };
      const pump = pumpChannelInput(source, {
        open: (first, complete) => {
          stream = this.connection().requestChannel(this.payload(route, first, options), prefetch, complete, {
            ...this.batchedReceiver(prefetch, () => stream!, subscriber),
            onRequest: () => pump.onRequest(),
            onCancel: () => pump.stop(),
            onError: (e) => {
              pump.stop();
              subscriber.error(e);
            },
          });
          return stream;
        },
        encode: (item) => ({ data: encodeJson(item), metadata: null }),
        fail: (e) => {
          if (stream && !stream.closed) stream.error(e);
          subscriber.error(e);
        },
      });
      const onAbort = () => subscriber.error(new SluiceError('CANCELED', `channel '${route}' aborted`));
      options.signal?.addEventListener('abort', onAbort, { once: true });
      // Unsubscribed, aborted, or the responder's output ended: a channel still open either way is cancelled.
      return () => {
        options.signal?.removeEventListener('abort', onAbort);
        pump.stop();
        if (stream && !stream.closed) stream.cancel();
      };
    });
  }

  private batchedReceiver<T>(prefetch: number, stream: () => Stream, subscriber: { next(v: T): void; error(e: unknown): void; complete(): void }): StreamHandler {
    const batch = Math.max(1, Math.floor(prefetch / 2));
    let received = 0;
    return {
      onNext: (p) => {
        let value: T;
        try {
          value = decodeJson(p.data) as T;
        } catch (err) {
          stream().cancel();
          subscriber.error(err);
          return;
        }
        subscriber.next(value);
        if (++received === batch) {
          received = 0;
          stream().request(batch);
        }
      },
      onComplete: () => subscriber.complete(),
      onError: (e) => subscriber.error(e),
      onRequest: noop,
      onCancel: noop,
    };
  }

  private connection(): Connection {
    const conn = this.source.current;
    if (!conn?.isOpen) throw new SluiceError('UNAVAILABLE', 'not connected to the gateway');
    return conn;
  }

  private payload(route: string, data: unknown, options: Pick<CallOptions, 'metadata' | 'trace'>): Payload {
    const extra = options.trace ? [...(options.metadata ?? []), traceContextEntry(options.trace)] : options.metadata;
    return { data: encodeJson(data), metadata: extra?.length ? routeMetadata(route, extra) : this.cachedRoute(route) };
  }

  private cachedRoute(route: string): Uint8Array {
    let m = this.routeCache.get(route);
    if (!m) {
      m = routeMetadata(route);
      // Bounded: a client calling endless distinct routes re-encodes instead of growing.
      if (this.routeCache.size < 1024) this.routeCache.set(route, m);
    }
    return m;
  }
}

/**
 * One request-response attempt in flight: the promise's settlers, the
 * stream's handler and the abort listener (`handleEvent`) are one object,
 * instead of a handler object and half a dozen closures per request, which
 * were most of a requester's garbage per request.
 */
class PendingRequest<T> implements StreamHandler, EventListenerObject {
  readonly promise: Promise<T>;
  private resolve!: (value: T | PromiseLike<T>) => void;
  private reject!: (error: SluiceError) => void;
  private stream: Stream | undefined;

  constructor(
    private readonly source: ConnectionSource,
    private readonly failover: FailoverOptions,
    private readonly route: string,
    private readonly payload: Payload,
    private readonly conn: Connection,
    private readonly options: RequestOptions,
    /** Times this request may still be sent again on another connection. */
    private readonly retries: number,
  ) {
    this.promise = new Promise<T>((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
    try {
      this.stream = conn.requestResponse(payload, this);
    } catch (err) {
      this.reject(SluiceError.from(err));
      return;
    }
    const signal = options.signal;
    if (signal?.aborted) this.handleEvent();
    else signal?.addEventListener('abort', this, { once: true });
  }

  /** The caller's signal aborted: cancel the stream and fail the call. */
  handleEvent(): void {
    this.stream?.cancel();
    this.reject(new SluiceError('CANCELED', `request to '${this.route}' aborted`));
  }

  onNext(p: Payload): void {
    this.done();
    try {
      this.resolve(decodeJson(p.data) as T);
    } catch (err) {
      this.reject(SluiceError.from(err));
    }
  }

  onComplete(): void {
    this.done();
    this.resolve(undefined as T);
  }

  onError(e: SluiceError): void {
    this.done();
    // The connection closed under the stream (the gateway went away): not the gateway's answer.
    if (!this.conn.isOpen && !this.options.signal?.aborted) this.lost(e);
    else this.reject(e);
  }

  onRequest(): void {}

  onCancel(): void {}

  private done(): void {
    this.options.signal?.removeEventListener('abort', this);
  }

  private lost(e: SluiceError): void {
    const { route, options } = this;
    if (!options.idempotent) {
      this.reject(new SluiceError('OUTCOME_UNKNOWN', `connection lost with '${route}' in flight: it may or may not have been done`, { cause: e }));
      return;
    }
    const next = this.retries > 0 ? this.source.nextConnection?.(this.failover.waitMs) : undefined;
    if (!next) {
      this.reject(new SluiceError('UNAVAILABLE', `connection lost with '${route}' in flight; no retry left`, { cause: e }));
      return;
    }
    next.then(
      (c) =>
        options.signal?.aborted
          ? this.reject(new SluiceError('CANCELED', `request to '${route}' aborted`))
          : this.resolve(new PendingRequest<T>(this.source, this.failover, route, this.payload, c, options, this.retries - 1).promise),
      (err: unknown) => this.reject(SluiceError.from(err)),
    );
  }
}

function settle(fn: () => void, onError: (e: SluiceError) => void): void {
  try {
    fn();
  } catch (err) {
    onError(SluiceError.from(err));
  }
}

function positive(n: number): number {
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`prefetch must be a positive integer, got ${n}`);
  return n;
}

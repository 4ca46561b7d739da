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
}

const noop = (): void => {};

export class SluiceClient {
  private readonly routeCache = new Map<string, Uint8Array>();

  constructor(private readonly source: ConnectionSource) {}

  /** True while a connection is up. */
  get connected(): boolean {
    return this.source.current?.isOpen ?? false;
  }

  requestResponse<T = unknown>(route: string, data?: unknown, options: CallOptions = {}): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      let stream: Stream | undefined;
      const onAbort = () => {
        stream?.cancel();
        reject(new SluiceError('CANCELED', `request to '${route}' aborted`));
      };
      const done = () => options.signal?.removeEventListener('abort', onAbort);
      try {
        stream = this.connection().requestResponse(this.payload(route, data, options), {
          onNext: (p) => {
            done();
            settle(() => resolve(decodeJson(p.data) as T), reject);
          },
          onComplete: () => {
            done();
            resolve(undefined as T);
          },
          onError: (e) => {
            done();
            reject(e);
          },
          onRequest: noop,
          onCancel: noop,
        });
      } catch (err) {
        reject(SluiceError.from(err));
        return;
      }
      if (options.signal?.aborted) onAbort();
      else options.signal?.addEventListener('abort', onAbort, { once: true });
    });
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

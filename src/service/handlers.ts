/** What a service author writes: handlers per route and interaction model. */
import type { Observable } from 'rxjs';
import type { Logger } from '../observability/log.js';
import type { MetadataEntry } from '../protocol/metadata.js';
import type { TraceContext } from '../protocol/trace-context.js';
import type { LastItem, OverflowPolicy } from '../flow/emitters.js';

export interface RequestContext {
  readonly route: string;
  /** All composite metadata entries of the request (unknown ones included). */
  readonly metadata: readonly MetadataEntry[];
  /**
   * The request's data MIME type: its per-stream entry
   * (`message/x.rsocket.mime-type.v0`, which the gateway adds for requesters
   * whose SETUP declared another format), else `application/json`. JSON data
   * reaches the handler parsed; any other format as its bytes (a
   * Uint8Array), and a handler answers in that format by returning bytes.
   */
  readonly dataMimeType: string;
  /** Aborted when the requester cancels or disconnects, or the deadline passes: stop work and release resources. */
  readonly signal: AbortSignal;
  /** When the requester stops waiting (epoch ms), if the request carries a deadline. */
  readonly deadline: number | undefined;
  readonly log: Logger;
  /**
   * The trace context to pass on calls made for this request
   * (`client.requestResponse(route, data, { trace: ctx.trace })`): this
   * service's span when tracing is on, else the context the request came
   * with, so a trace crosses a service that does not trace. Undefined when
   * the request carried none and tracing is off.
   */
  readonly trace: TraceContext | undefined;
}

export interface StreamContext extends RequestContext {
  /** Total demand this stream's producer has received so far (initial n plus every request(n)). */
  readonly requested: number;
  /** Items sent so far. */
  readonly emitted: number;
  /**
   * The position the requester resumes after (its `resume-after` entry: an
   * SSE caller's `Last-Event-ID` on a route whose gateway policy says
   * `resumable`), or undefined from the beginning. A resumable route sends
   * the items after the Nth of its sequence, so the caller's next event id
   * is N + 1; see docs/protocol.md.
   */
  readonly resumeAfter: number | undefined;
}

/**
 * A stream handler's result: pulled by demand (AsyncIterable, whose final item
 * may be wrapped in `lastItem()` to complete without another pull) or buffered
 * by demand (Observable).
 */
export type StreamResult<T> = Observable<T> | AsyncIterable<T | LastItem<T>>;

export interface RouteHandlers<I = any, O = any> {
  /** Safe to retry (the handler tolerates duplicates). Declared to the gateway at registration. */
  idempotent?: boolean;
  requestResponse?(data: I, ctx: RequestContext): O | Promise<O>;
  fireAndForget?(data: I, ctx: RequestContext): void | Promise<void>;
  requestStream?(data: I, ctx: StreamContext): StreamResult<O>;
  /**
   * `input` yields the channel's payloads, the REQUEST_CHANNEL payload first.
   * It requests from the requester only as the handler pulls (see `inputPrefetch`).
   */
  requestChannel?(input: AsyncIterableIterator<I>, ctx: StreamContext): StreamResult<O>;
  /** Channel input requested ahead of the handler's pulls. Default 16; 1 requests each item only when the handler asks for it. */
  inputPrefetch?: number;
  /** Observable results only: items held beyond demand. Default 256. */
  bufferSize?: number;
  /** Observable results only: what happens when that buffer is full. Default 'error' (BUFFER_OVERFLOW). */
  overflow?: OverflowPolicy;
}

export type RouteTable = Record<string, RouteHandlers>;

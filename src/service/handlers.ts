/** What a service author writes: handlers per route and interaction model. */
import type { Observable } from 'rxjs';
import type { Logger } from '../observability/log.js';
import type { MetadataEntry } from '../protocol/metadata.js';
import type { LastItem, OverflowPolicy } from '../flow/emitters.js';

export interface RequestContext {
  readonly route: string;
  /** All composite metadata entries of the request (unknown ones included). */
  readonly metadata: readonly MetadataEntry[];
  /** Aborted when the requester cancels or disconnects, or the deadline passes: stop work and release resources. */
  readonly signal: AbortSignal;
  /** When the requester stops waiting (epoch ms), if the request carries a deadline. */
  readonly deadline: number | undefined;
  readonly log: Logger;
}

export interface StreamContext extends RequestContext {
  /** Total demand this stream's producer has received so far (initial n plus every request(n)). */
  readonly requested: number;
  /** Items sent so far. */
  readonly emitted: number;
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

/**
 * The requester's side of one HTTP bridge request, as the forwarder sees it:
 * an engine `Stream` whose host is this exchange instead of a connection.
 * Frames the forwarding sends to the requester are decoded back into
 * signals for the HTTP writer; `writable` and `whenWritable` follow the HTTP
 * response's own buffer, so demand stops where the HTTP socket stops.
 */
import type { ServerResponse } from 'node:http';
import { SluiceError } from '../errors.js';
import { decodeFrame } from '../protocol/codec.js';
import { Flags, FrameType, type Payload } from '../protocol/frames.js';
import { Stream, type InteractionModel, type StreamHandler, type StreamHost } from '../rsocket/stream.js';

/** What the HTTP writer does with the forwarding's signals. */
export interface ExchangeSink {
  next(payload: Payload): void;
  complete(): void;
  error(error: SluiceError): void;
}

let counter = 0;

export class HttpExchange implements StreamHost {
  /** For stats: the requester's id, as a connection's would be. */
  readonly id = `http-${++counter}`;
  /** The stream the forwarding writes to. */
  readonly stream: Stream;
  private ended = false;

  constructor(
    model: Extract<InteractionModel, 'response' | 'stream'>,
    private readonly res: ServerResponse,
    private readonly sink: ExchangeSink,
  ) {
    this.stream = new Stream(1, model, 'responder', this);
    // As a connection does for a request it receives: a response may have its one payload; nothing comes from the requester.
    if (model === 'response') this.stream.sendCredit = 1;
    this.stream.inboundDone = true;
  }

  /** Bytes written to the response and not yet flushed. */
  get bufferedBytes(): number {
    return this.res.writableLength;
  }

  get writable(): boolean {
    return !this.res.writableNeedDrain;
  }

  whenWritable(fn: () => void): () => void {
    if (this.writable) {
      queueMicrotask(fn);
      return () => {};
    }
    this.res.once('drain', fn);
    return () => this.res.off('drain', fn);
  }

  /** Installs the forwarding's handler for the requester's signals (demand, cancel). */
  attach(handler: StreamHandler): void {
    this.stream.handler = handler;
  }

  /** The HTTP caller asks for `n` more items (stream). */
  request(n: number): void {
    if (!this.ended) this.stream.receiveRequestN(n);
  }

  /** The HTTP caller went away: the forwarding cancels upstream. */
  cancel(): void {
    if (this.ended) return;
    this.ended = true;
    this.stream.receiveCancel();
  }

  sendFrame(frame: Uint8Array): void {
    if (this.ended) return;
    const f = decodeFrame(frame);
    if (f.type === FrameType.PAYLOAD) {
      if (f.flags & Flags.NEXT) this.sink.next({ data: f.data, metadata: f.metadata });
      if (f.flags & Flags.COMPLETE || this.stream.model === 'response') this.end(() => this.sink.complete());
    } else if (f.type === FrameType.ERROR) {
      this.end(() => this.sink.error(SluiceError.fromWire(f.code, f.message)));
    }
    // REQUEST_N and CANCEL concern a requester's input, which an HTTP request does not have.
  }

  release(): void {}

  private end(fn: () => void): void {
    if (this.ended) return;
    this.ended = true;
    fn();
  }
}

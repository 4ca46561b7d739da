/**
 * One RSocket stream seen from one side: its credit in both directions and
 * which halves are done. The engine enforces demand here, so no layer above
 * can send a payload the peer did not request, and a peer that sends one it
 * was not granted is stopped with DEMAND_EXCEEDED.
 */
import { SluiceError, WireCode } from '../errors.js';
import { encodeCancel, encodeError, encodePayloadFrame, encodeRequestN, rewriteStreamId } from '../protocol/codec.js';
import { Flags, FrameType, MAX_REQUEST_N, type Payload } from '../protocol/frames.js';

export type InteractionModel = 'fnf' | 'response' | 'stream' | 'channel';
export type StreamRole = 'requester' | 'responder';

/** Callbacks for what the peer does on a stream. */
export interface StreamHandler {
  /**
   * One inbound payload. `frame` is the raw PAYLOAD frame when it arrived in
   * one piece, so a forwarder can pass it on without re-encoding.
   */
  onNext(payload: Payload, frame: Uint8Array | undefined): void;
  /** The peer finished sending. */
  onComplete(): void;
  /** The stream ended with an error (from the peer, the connection, or a violation). Terminal. */
  onError(error: SluiceError): void;
  /** The peer granted `n` more payloads. */
  onRequest(n: number): void;
  /** The peer no longer wants our payloads. For a responder this ends the stream. */
  onCancel(): void;
}

export const ignoreHandler: StreamHandler = {
  onNext() {},
  onComplete() {},
  onError() {},
  onRequest() {},
  onCancel() {},
};

/** What a stream needs from its connection. */
export interface StreamHost {
  sendFrame(frame: Uint8Array): void;
  release(stream: Stream): void;
  /** False while the peer leaves too many bytes unread: producers should pause. */
  readonly writable: boolean;
  /** Calls `fn` once when `writable` turns true again; returns a canceller. */
  whenWritable(fn: () => void): () => void;
}

/** The payload given with a whole frame to a stream whose handler relays frames (`Stream.relaysFrames`): empty, the frame has it all. */
export const RELAYED_FRAME: Payload = Object.freeze({ data: null, metadata: null });

export class Stream {
  handler: StreamHandler = ignoreHandler;
  /** Payloads the peer has requested and we have not sent yet. */
  sendCredit = 0;
  /** Payloads we granted the peer and have not received yet. */
  receiveCredit = 0;
  /** Total the peer ever requested of us (initial n plus every REQUEST_N). */
  totalRequested = 0;
  /** We will send nothing more. */
  outboundDone = false;
  /** The peer will send nothing more. */
  inboundDone = false;
  /**
   * The handler relays whole PAYLOAD frames (it reads `frame` whenever one is
   * given, never the payload then): such a frame reaches it with
   * `RELAYED_FRAME` for payload instead of views decoded for nobody.
   */
  relaysFrames = false;

  constructor(
    readonly id: number,
    readonly model: InteractionModel,
    readonly role: StreamRole,
    readonly host: StreamHost,
  ) {}

  get closed(): boolean {
    return this.outboundDone && this.inboundDone;
  }

  /** Sends one payload; `complete` also ends our half. Throws when it would exceed demand. */
  next(payload: Payload, complete = false): void {
    this.spend();
    const flags = Flags.NEXT | (complete ? Flags.COMPLETE : 0);
    this.host.sendFrame(encodePayloadFrame(FrameType.PAYLOAD, this.id, flags, payload));
    if (complete) this.finishOutbound();
  }

  /**
   * Sends a PAYLOAD frame received on another stream, rewriting only its stream
   * id. The frame's own NEXT/COMPLETE flags drive the accounting.
   */
  forward(frame: Uint8Array): void {
    // A response is always the last payload, whatever flags the producer used.
    if (this.model === 'response') frame[5] = frame[5]! | Flags.COMPLETE;
    const flags = ((frame[4]! << 8) | frame[5]!) & 0x3ff;
    if (flags & Flags.NEXT) this.spend();
    this.host.sendFrame(rewriteStreamId(frame, this.id));
    if (flags & Flags.COMPLETE) this.finishOutbound();
  }

  complete(): void {
    if (this.outboundDone) return;
    this.host.sendFrame(encodePayloadFrame(FrameType.PAYLOAD, this.id, Flags.COMPLETE, { data: null, metadata: null }));
    this.finishOutbound();
  }

  /** Ends the whole stream with an error sent to the peer. */
  error(error: SluiceError): void {
    if (this.closed) return;
    this.host.sendFrame(encodeError(this.id, streamWireCode(error), error.toWireMessage()));
    this.terminate();
  }

  /** Grants the peer `n` more payloads. */
  request(n: number): void {
    if (this.inboundDone || n <= 0) return;
    const grant = Math.min(n, MAX_REQUEST_N);
    this.receiveCredit = addCredit(this.receiveCredit, grant);
    this.host.sendFrame(encodeRequestN(this.id, grant));
  }

  /**
   * Requester: ends the whole stream. Responder of a channel: stops the
   * requester's payloads only (our own output may go on).
   */
  cancel(): void {
    if (this.role === 'responder') {
      if (this.inboundDone) return;
      this.host.sendFrame(encodeCancel(this.id));
      this.inboundDone = true;
      this.releaseIfClosed();
      return;
    }
    if (this.closed) return;
    this.host.sendFrame(encodeCancel(this.id));
    this.terminate();
  }

  // ------------------------------------------------------ inbound, from the connection

  /** @internal */
  receivePayload(payload: Payload, flags: number, frame: Uint8Array | undefined): void {
    if (this.inboundDone) return;
    const hasNext = (flags & Flags.NEXT) !== 0;
    const hasComplete = (flags & Flags.COMPLETE) !== 0;
    if (hasNext) {
      if (this.receiveCredit <= 0) {
        this.violate(new SluiceError('DEMAND_EXCEEDED', `stream ${this.id} received a payload with no request outstanding`));
        return;
      }
      this.receiveCredit -= 1;
    }
    if (hasComplete || this.model === 'response') this.inboundDone = true;
    if (hasNext) this.handler.onNext(payload, frame);
    if (hasComplete) this.handler.onComplete();
    this.releaseIfClosed();
  }

  /** @internal */
  receiveRequestN(n: number): void {
    if (this.outboundDone) return;
    this.sendCredit = addCredit(this.sendCredit, n);
    this.totalRequested = Math.min(this.totalRequested + n, Number.MAX_SAFE_INTEGER);
    this.handler.onRequest(n);
  }

  /** @internal */
  receiveCancel(): void {
    if (this.role === 'responder') {
      if (this.closed) return;
      this.terminate();
      this.handler.onCancel();
      return;
    }
    // A channel responder stopped our payloads; its own may continue.
    if (this.outboundDone) return;
    this.outboundDone = true;
    this.releaseIfClosed();
    this.handler.onCancel();
  }

  /** @internal */
  receiveError(error: SluiceError): void {
    if (this.closed) return;
    this.terminate();
    this.handler.onError(error);
  }

  /** @internal The connection ended: the stream ends with `error`, nothing is sent. */
  abort(error: SluiceError): void {
    if (this.closed) return;
    this.outboundDone = true;
    this.inboundDone = true;
    this.handler.onError(error);
  }

  /** A local rule broke (demand, size): tell the peer and the local side. */
  violate(error: SluiceError): void {
    if (this.closed) return;
    if (this.role === 'responder') {
      this.host.sendFrame(encodeError(this.id, streamWireCode(error), error.toWireMessage()));
    } else {
      this.host.sendFrame(encodeCancel(this.id));
    }
    this.terminate();
    this.handler.onError(error);
  }

  private spend(): void {
    if (this.outboundDone) throw new Error(`stream ${this.id}: send after completion`);
    if (this.sendCredit <= 0) throw new Error(`stream ${this.id}: send without demand`);
    this.sendCredit -= 1;
  }

  private finishOutbound(): void {
    this.outboundDone = true;
    this.releaseIfClosed();
  }

  private terminate(): void {
    this.outboundDone = true;
    this.inboundDone = true;
    this.host.release(this);
  }

  private releaseIfClosed(): void {
    if (this.closed) this.host.release(this);
  }
}

/** Credit saturates at "unbounded" instead of overflowing. */
export function addCredit(current: number, n: number): number {
  if (current === Infinity || n >= MAX_REQUEST_N) return Infinity;
  const sum = current + n;
  return sum >= Number.MAX_SAFE_INTEGER ? Infinity : sum;
}

/**
 * The spec keeps codes up to CONNECTION_CLOSE (0x102) for stream 0. An error
 * carrying a connection-level code that ends up on a stream (a service passing
 * one along, say) travels as APPLICATION_ERROR; its message keeps the code.
 */
function streamWireCode(error: SluiceError): number {
  return error.wireCode <= WireCode.CONNECTION_CLOSE ? WireCode.APPLICATION_ERROR : error.wireCode;
}

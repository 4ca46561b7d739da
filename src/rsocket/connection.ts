/**
 * One RSocket connection: the stream table, frame dispatch, SETUP,
 * keepalive, fragment reassembly and the outbound byte cap. Both the gateway
 * (server role, server-connection.ts) and clients and services (client role)
 * run on it. Isomorphic.
 *
 * Every limit is an option with a default; at each limit the behaviour is
 * explicit: a new stream beyond `maxInboundStreams` is refused with OVERLOADED,
 * a payload beyond `maxPayloadSize` ends its stream with PAYLOAD_TOO_LARGE, a
 * peer that leaves more than `outboundHardLimit` bytes unread (or stays over
 * `outboundHighWater` for `slowConsumerTimeoutMs`) loses its connection with
 * SLOW_CONSUMER, a fragmented payload not completed within
 * `fragmentTimeoutMs` ends its stream with FRAGMENT_TIMEOUT, a peer silent
 * for the keepalive lifetime loses it with KEEPALIVE_TIMEOUT, and (when the
 * server asks, see `limitIdle`) a peer with nothing open for the idle timeout
 * loses it with CONNECTION_CLOSED. While an asynchronous `accept` decides on
 * SETUP, at most MAX_HELD_FRAMES frames (and `maxPayloadSize` bytes) are held
 * for replay; beyond that the connection is closed with PROTOCOL_VIOLATION.
 * With a gateway-wide `MemoryBudget`, the connection reports its unflushed
 * outbound bytes and its fragments in progress to it; when the budget sheds
 * the connection, the outbound kind closes it with SLOW_CONSUMER and the
 * reassembly kind ends its unfinished payloads' streams with OVERLOADED.
 */
import { SluiceError } from '../errors.js';
import {
  FrameDecodeError,
  decodeFrame,
  encodeError,
  encodeKeepAlive,
  encodeMetadataPush,
  encodePayloadFrame,
  encodeSetup,
  type SetupOptions,
} from '../protocol/codec.js';
import { FramePayload, hotFlags, hotFrameType, hotPayloadSize, hotPayloadStart, hotRequestN, hotStreamId } from '../protocol/hot-frames.js';
import { FRAME_HEADER_SIZE, Flags, FrameType, MAX_REQUEST_N, MAX_STREAM_ID, frameTypeName, hasFlag, type Frame, type Payload, type SetupFrame } from '../protocol/frames.js';
import { silentLogger, type Logger } from '../observability/log.js';
import { peerHost, type RateLimitedLog } from '../observability/rate-limited-log.js';
import type { MemoryBudget, MemoryHolder } from './memory-budget.js';
import { Reassembler, type Abandoned } from './reassembler.js';
import { RELAYED_FRAME, Stream, addCredit, type InteractionModel, type StreamHandler, type StreamHost } from './stream.js';
import type { FrameTransport } from './transport.js';
import { StreamTable } from './stream-table.js';

/** What a connection does with requests its peer opens. */
export interface Responder {
  fireAndForget(payload: Payload): void;
  requestResponse(payload: Payload, stream: Stream): StreamHandler;
  requestStream(payload: Payload, stream: Stream): StreamHandler;
  requestChannel(payload: Payload, complete: boolean, stream: Stream): StreamHandler;
  metadataPush?(metadata: Uint8Array): void;
}

/** Refuses every request: for connections that only ever call out. */
export const refusingResponder: Responder = {
  fireAndForget() {},
  requestResponse: refuse,
  requestStream: refuse,
  requestChannel: (_p, _c, stream) => refuse(_p, stream),
};

function refuse(_payload: Payload, stream: Stream): StreamHandler {
  stream.error(new SluiceError('NO_ROUTE', 'this peer serves no routes'));
  return stream.handler;
}

export interface ConnectionLimits {
  /** Streams the peer may have open at once on this connection. Default 1024. */
  maxInboundStreams: number;
  /** Streams this side may have open at once. Default 65536. */
  maxOutboundStreams: number;
  /** Largest payload (metadata + data, after reassembly) in bytes. Default 1 MiB. */
  maxPayloadSize: number;
  /** Unwritten outbound bytes above which producers are paused. Default 1 MiB. */
  outboundHighWater: number;
  /** Unwritten outbound bytes at which the connection is closed. Default 16 MiB. */
  outboundHardLimit: number;
  /** How long a connection may stay above the high water mark. Default 30 s. */
  slowConsumerTimeoutMs: number;
  /** How long a fragmented payload may take from its first fragment to its last, in ms. Default 10 s. */
  fragmentTimeoutMs: number;
}

export const defaultLimits: ConnectionLimits = {
  maxInboundStreams: 1024,
  maxOutboundStreams: 65536,
  maxPayloadSize: 1024 * 1024,
  outboundHighWater: 1024 * 1024,
  outboundHardLimit: 16 * 1024 * 1024,
  slowConsumerTimeoutMs: 30_000,
  fragmentTimeoutMs: 10_000,
};

export interface KeepAliveOptions {
  /** Client: ms between KEEPALIVE frames. Default 20 s. */
  intervalMs: number;
  /** Ms of silence after which the peer is dead. Default 90 s. */
  lifetimeMs: number;
}

export const defaultKeepAlive: KeepAliveOptions = { intervalMs: 20_000, lifetimeMs: 90_000 };

export interface ServerOptions {
  /** Ms to wait for the SETUP frame. Default 10 s. */
  setupTimeoutMs?: number;
  /** Bounds applied to the lifetime a client asks for. Default 1 s .. 10 min. */
  minLifetimeMs?: number;
  maxLifetimeMs?: number;
  /**
   * Decides on the SETUP frame; returns the responder for this connection or
   * throws a SluiceError with an *_SETUP code (sent to the peer, connection
   * closed). It may decide asynchronously (verifying a token): until the
   * promise settles the connection answers nothing (not even a KEEPALIVE, so
   * a client's confirming ping means "accepted"), holds what the peer sends
   * for replay in order, and counts the wait against `setupTimeoutMs`.
   */
  accept(setup: SetupFrame, connection: Connection): Responder | Promise<Responder>;
}

/** Frames a peer may send after SETUP before it is accepted; they are held and replayed in order. */
export const MAX_HELD_FRAMES = 64;

export interface ConnectionOptions {
  id?: string;
  logger?: Logger;
  limits?: Partial<ConnectionLimits>;
  /** Gateway-wide bound on bytes held for peers; the connection reports its outbound and reassembly bytes. Default none. */
  memory?: MemoryBudget;
  /** Rate limits the warnings a peer can repeat at will (closing its connections); default: every one is logged. */
  warnings?: RateLimitedLog;
}

export type State = 'awaiting-setup' | 'accepting' | 'open' | 'closed';

let nextConnectionId = 1;

export class Connection implements StreamHost {
  readonly id: string;
  readonly limits: ConnectionLimits;
  readonly log: Logger;
  /** The SETUP this connection started with (server role, once accepted). */
  setup: SetupFrame | undefined;

  protected state: State;
  protected responder: Responder = refusingResponder;
  /** Open streams by id (not a Map: see stream-table.ts). */
  private streams = new StreamTable<Stream>();
  private inboundStreams = 0;
  private outboundStreams = 0;
  private nextStreamId: number;
  private readonly reassembler: Reassembler;
  private fragmentTimer: ReturnType<typeof setTimeout> | undefined;
  private readonly outbound: MemoryHolder | undefined;
  private readonly warnings: RateLimitedLog | undefined;
  private readonly drainWaiters = new Set<() => void>();
  private readonly closeListeners = new Set<(error: SluiceError | undefined) => void>();
  private timer: ReturnType<typeof setInterval> | undefined;
  protected setupTimer: ReturnType<typeof setTimeout> | undefined;
  private heardFrom = true;
  private silentSince = 0;
  private slowConsumerTimer: ReturnType<typeof setTimeout> | undefined;
  protected lifetimeMs: number;
  private closeError: SluiceError | undefined;
  /** Frames received, for the KEEPALIVE position field. */
  private receivedFrames = 0;
  /** Ms without streams or requests after which the connection closes; 0: never (see limitIdle). */
  private idleTimeoutMs = 0;
  /** When the last stream ended or the last request arrived (epoch ms). */
  private lastActive = Date.now();
  /** Frames received while an asynchronous accept() decides, in order (copies: transports reuse their buffers). */
  protected held: Uint8Array[] = [];
  protected heldBytes = 0;

  protected constructor(
    private readonly transport: FrameTransport,
    readonly role: 'client' | 'server',
    options: ConnectionOptions,
    lifetimeMs: number,
  ) {
    this.id = options.id ?? `${role === 'server' ? 'c' : 'k'}${nextConnectionId++}`;
    this.limits = { ...defaultLimits, ...options.limits };
    this.log = (options.logger ?? silentLogger).child({ conn: this.id });
    this.nextStreamId = role === 'client' ? 1 : 2;
    this.state = role === 'client' ? 'open' : 'awaiting-setup';
    this.lifetimeMs = lifetimeMs;
    const memory = options.memory;
    this.warnings = options.warnings;
    this.outbound = memory?.holder('outbound', {
      // At once, dropping what is queued: the peer is not reading it, and the point is to free it now.
      shed: (reason) => {
        this.fail(new SluiceError('SLOW_CONSUMER', reason));
        this.transport.destroy();
      },
      refresh: () => (this.state === 'closed' ? 0 : this.transport.bufferedBytes),
    });
    const reassembly = memory?.holder('reassembly', { shed: (reason) => this.abandonFragments(this.reassembler.abandonAll(), new SluiceError('OVERLOADED', reason)) });
    this.reassembler = new Reassembler(this.limits.maxPayloadSize, reassembly);
    transport.start({
      onFrame: (frame) => this.onFrame(frame),
      onInvalid: (reason) => this.fail(new SluiceError('MALFORMED_FRAME', reason)),
      onDrain: () => this.onDrain(),
      onClose: (error) => this.onTransportClose(error),
    });
  }

  /** Client side: sends SETUP at once and starts keepalives. */
  static connect(
    transport: FrameTransport,
    setup: Omit<SetupOptions, 'keepAlive' | 'lifetime'> & { keepAlive?: Partial<KeepAliveOptions> },
    responder: Responder,
    options: ConnectionOptions = {},
  ): Connection {
    const ka = { ...defaultKeepAlive, ...setup.keepAlive };
    const conn = new Connection(transport, 'client', options, ka.lifetimeMs);
    conn.responder = responder;
    conn.sendFrame(encodeSetup({ ...setup, keepAlive: ka.intervalMs, lifetime: ka.lifetimeMs }));
    conn.startTimer(ka.intervalMs, true);
    return conn;
  }

  private pings: Array<{ resolve: () => void; reject: (e: SluiceError) => void }> = [];

  private resolvePings(): void {
    const pings = this.pings;
    this.pings = [];
    for (const p of pings) p.resolve();
  }

  get isOpen(): boolean {
    return this.state !== 'closed';
  }

  get remoteAddress(): string {
    return this.transport.remoteAddress;
  }

  get activeStreams(): number {
    return this.streams.size;
  }

  get bufferedBytes(): number {
    return this.transport.bufferedBytes;
  }

  /** False while the peer is not reading fast enough: producers should pause. */
  get writable(): boolean {
    return this.transport.bufferedBytes < this.limits.outboundHighWater;
  }

  /** Runs `fn` once when the connection is writable again (or closes). */
  whenWritable(fn: () => void): () => void {
    this.drainWaiters.add(fn);
    return () => this.drainWaiters.delete(fn);
  }

  /**
   * Server role, called from `accept` for peers that should not hold a slot
   * for long when they do nothing (clients, as opposed to services): the
   * connection closes with CONNECTION_CLOSED once it has had no stream open
   * and no request for `idleTimeoutMs` (0: never), and its keepalive lifetime
   * is lowered to at most `maxLifetimeMs`. Checked on the connection's one
   * timer, so the close comes at most a quarter of the timeout late.
   */
  limitIdle(limits: { idleTimeoutMs: number; maxLifetimeMs: number }): void {
    this.idleTimeoutMs = limits.idleTimeoutMs;
    this.lifetimeMs = Math.min(this.lifetimeMs, limits.maxLifetimeMs);
    this.lastActive = Date.now();
  }

  onClose(listener: (error: SluiceError | undefined) => void): () => void {
    if (this.state === 'closed') {
      listener(this.closeError);
      return () => {};
    }
    this.closeListeners.add(listener);
    return () => this.closeListeners.delete(listener);
  }

  // ------------------------------------------------------------- requester API

  fireAndForget(payload: Payload): void {
    this.ensureOpen();
    this.sendFrame(encodePayloadFrame(FrameType.REQUEST_FNF, this.allocateId(), 0, payload));
  }

  requestResponse(payload: Payload, handler: StreamHandler): Stream {
    const stream = this.openStream('response', handler);
    stream.receiveCredit = 1;
    stream.outboundDone = true;
    this.sendFrame(encodePayloadFrame(FrameType.REQUEST_RESPONSE, stream.id, 0, payload));
    return stream;
  }

  requestStream(payload: Payload, initialN: number, handler: StreamHandler): Stream {
    const n = checkN(initialN);
    const stream = this.openStream('stream', handler);
    stream.receiveCredit = addCredit(0, n);
    stream.outboundDone = true;
    this.sendFrame(encodePayloadFrame(FrameType.REQUEST_STREAM, stream.id, 0, payload, n));
    return stream;
  }

  /** Opens a channel whose first payload is `payload`; `complete` says it is also the last. */
  requestChannel(payload: Payload, initialN: number, complete: boolean, handler: StreamHandler): Stream {
    const n = checkN(initialN);
    const stream = this.openStream('channel', handler);
    stream.receiveCredit = addCredit(0, n);
    stream.outboundDone = complete;
    this.sendFrame(encodePayloadFrame(FrameType.REQUEST_CHANNEL, stream.id, complete ? Flags.COMPLETE : 0, payload, n));
    return stream;
  }

  /**
   * Sends a KEEPALIVE asking for an answer and resolves when one arrives.
   * Right after SETUP this confirms the server accepted it: RSocket has no
   * SETUP acknowledgement, but a server answers nothing before accepting
   * SETUP and closes with an ERROR when it refuses.
   */
  ping(): Promise<void> {
    if (this.state === 'closed') return Promise.reject(this.closeError);
    return new Promise<void>((resolve, reject) => {
      this.pings.push({ resolve, reject });
      this.sendFrame(encodeKeepAlive(true, this.receivedFrames));
    });
  }

  metadataPush(metadata: Uint8Array): void {
    this.ensureOpen();
    this.sendFrame(encodeMetadataPush(metadata));
  }

  /** Ends the connection; with an error, the peer receives it in an ERROR frame first. */
  close(error?: SluiceError): void {
    if (this.state === 'closed') return;
    if (error) this.sendFrame(encodeError(0, error.wireCode, error.toWireMessage()));
    this.shutdown(error ?? new SluiceError('CONNECTION_CLOSED', 'connection closed'));
    this.transport.close();
  }

  // ----------------------------------------------------------------- StreamHost

  sendFrame(frame: Uint8Array): void {
    if (this.state === 'closed') return;
    this.transport.send(frame);
    const buffered = this.transport.bufferedBytes;
    this.outbound?.set(buffered);
    if (buffered >= this.limits.outboundHighWater) this.onCongested(buffered);
  }

  release(stream: Stream): void {
    if (this.streams.get(stream.id) !== stream) return;
    this.streams.delete(stream);
    if (isLocalId(stream.id, this.role)) this.outboundStreams--;
    else this.inboundStreams--;
    this.reassembler.drop(stream.id);
    if (this.streams.size === 0) this.lastActive = Date.now();
  }

  // ------------------------------------------------------------------- inbound

  private onFrame(bytes: Uint8Array): void {
    if (this.state === 'closed') return;
    this.heardFrom = true;
    this.receivedFrames++;
    if (this.state === 'accepting') {
      this.hold(bytes);
      return;
    }
    this.dispatch(bytes);
  }

  protected dispatch(bytes: Uint8Array): void {
    if (this.state === 'open') {
      const type = hotFrameType(bytes);
      if (type !== 0 && this.dispatchHot(type, bytes)) return;
    }
    let frame: Frame;
    try {
      frame = decodeFrame(bytes);
    } catch (err) {
      if (err instanceof FrameDecodeError && err.ignorable) return;
      this.fail(new SluiceError('MALFORMED_FRAME', (err as Error).message));
      return;
    }
    if (this.state === 'awaiting-setup') {
      this.onSetup(frame);
      return;
    }
    if (frame.streamId === 0) this.onConnectionFrame(frame);
    else this.onStreamFrame(frame, bytes);
  }

  /**
   * Requests and an open stream's traffic, read from the header without a
   * frame object (hot-frames.ts): what `onStreamFrame` does for the same
   * frames, for the usual case only. Returns false to leave the frame to the
   * full path: a PAYLOAD continuing a fragmented one or over the size limit,
   * a request on an id in use or of this side's parity (the full path closes
   * the connection for those).
   */
  private dispatchHot(type: number, bytes: Uint8Array): boolean {
    const id = hotStreamId(bytes);
    if (type === FrameType.PAYLOAD) {
      if (this.reassembler.has(id)) return false;
      const stream = this.streams.get(id);
      if (!stream) return true; // late frame for a stream that already ended
      if (hotPayloadSize(bytes) > this.limits.maxPayloadSize) return false;
      stream.receivePayload(stream.relaysFrames ? RELAYED_FRAME : new FramePayload(bytes), hotFlags(bytes), bytes);
      return true;
    }
    if (type === FrameType.REQUEST_N) {
      this.streams.get(id)?.receiveRequestN(hotRequestN(bytes));
      return true;
    }
    if (type === FrameType.CANCEL) {
      this.reassembler.drop(id);
      this.streams.get(id)?.receiveCancel();
      return true;
    }
    if (this.streams.get(id) || this.reassembler.has(id) || isLocalId(id, this.role)) return false;
    const start = hotPayloadStart(type);
    const requestN = start === FRAME_HEADER_SIZE ? 0 : hotRequestN(bytes);
    this.onRequest(type, id, new FramePayload(bytes, start), requestN, (hotFlags(bytes) & Flags.COMPLETE) !== 0);
    return true;
  }

  /**
   * The first frame of a server connection (state 'awaiting-setup'), and the
   * frames that arrive while its accept decides (state 'accepting'): the server
   * role's (server-connection.ts), which browsers never load. A client
   * connection is open from the start and never reaches these.
   */
  protected onSetup(_frame: Frame): void {
    this.fail(new SluiceError('PROTOCOL_VIOLATION', 'no SETUP expected'));
  }

  protected hold(_bytes: Uint8Array): void {
    this.fail(new SluiceError('PROTOCOL_VIOLATION', 'no SETUP pending'));
  }

  private onConnectionFrame(frame: Frame): void {
    switch (frame.type) {
      case FrameType.KEEPALIVE:
        if (hasFlag(frame.flags, Flags.RESPOND)) this.sendFrame(encodeKeepAlive(false, this.receivedFrames, frame.data));
        else this.resolvePings();
        return;
      case FrameType.ERROR:
        this.warn('peer-error', { code: frame.code, message: frame.message }, 'peer closed the connection with an error');
        this.shutdown(SluiceError.fromWire(frame.code, frame.message));
        this.transport.close();
        return;
      case FrameType.METADATA_PUSH:
        this.responder.metadataPush?.(frame.metadata);
        return;
      case FrameType.EXT:
        return;
      case FrameType.SETUP:
        this.fail(new SluiceError('PROTOCOL_VIOLATION', 'SETUP received twice'));
        return;
      default:
        this.fail(new SluiceError('PROTOCOL_VIOLATION', `unexpected ${frameTypeName(frame.type)} frame on stream 0`));
    }
  }

  private onStreamFrame(frame: Frame, bytes: Uint8Array): void {
    const stream = this.streams.get(frame.streamId);
    switch (frame.type) {
      case FrameType.REQUEST_FNF:
      case FrameType.REQUEST_RESPONSE:
      case FrameType.REQUEST_STREAM:
      case FrameType.REQUEST_CHANNEL:
        if (stream || this.reassembler.has(frame.streamId)) {
          this.fail(new SluiceError('PROTOCOL_VIOLATION', `${frameTypeName(frame.type)} on stream ${frame.streamId}, which is already open`));
          return;
        }
        if (isLocalId(frame.streamId, this.role)) {
          this.fail(new SluiceError('PROTOCOL_VIOLATION', `peer opened stream ${frame.streamId}, an id of this side's parity`));
          return;
        }
        if (hasFlag(frame.flags, Flags.FOLLOWS)) {
          this.startRequestFragments(frame);
          return;
        }
        this.onRequest(frame.type, frame.streamId, frame, 'requestN' in frame ? frame.requestN : 0, hasFlag(frame.flags, Flags.COMPLETE));
        return;
      case FrameType.PAYLOAD:
        if (this.reassembler.has(frame.streamId)) {
          this.continueFragments(frame);
          return;
        }
        if (!stream) return; // late frame for a stream that already ended
        if (hasFlag(frame.flags, Flags.FOLLOWS)) {
          this.startPayloadFragments(stream, frame);
          return;
        }
        if (this.oversize(frame)) {
          stream.violate(tooLarge(frame.streamId, size(frame), this.limits.maxPayloadSize));
          return;
        }
        stream.receivePayload(frame, frame.flags, bytes);
        return;
      case FrameType.REQUEST_N:
        stream?.receiveRequestN(frame.requestN);
        return;
      case FrameType.CANCEL:
        this.reassembler.drop(frame.streamId);
        stream?.receiveCancel();
        return;
      case FrameType.ERROR:
        this.reassembler.drop(frame.streamId);
        stream?.receiveError(SluiceError.fromWire(frame.code, frame.message));
        return;
      case FrameType.EXT:
        return;
      default:
        this.fail(new SluiceError('PROTOCOL_VIOLATION', `unexpected ${frameTypeName(frame.type)} frame on stream ${frame.streamId}`));
    }
  }

  private onRequest(type: number, id: number, payload: Payload, requestN: number, complete: boolean): void {
    if (this.idleTimeoutMs > 0) this.lastActive = Date.now();
    if (type === FrameType.REQUEST_FNF) {
      if (payload.data && size(payload) > this.limits.maxPayloadSize) {
        this.warn('fnf-too-large', { stream: id, bytes: size(payload) }, 'fire-and-forget payload over the size limit dropped');
        return;
      }
      this.responder.fireAndForget(payload);
      return;
    }
    const model: InteractionModel = type === FrameType.REQUEST_RESPONSE ? 'response' : type === FrameType.REQUEST_STREAM ? 'stream' : 'channel';
    const stream = new Stream(id, model, 'responder', this);
    if (size(payload) > this.limits.maxPayloadSize) {
      this.sendFrame(encodeError(id, 0x204, tooLarge(id, size(payload), this.limits.maxPayloadSize).toWireMessage()));
      return;
    }
    if (this.inboundStreams >= this.limits.maxInboundStreams) {
      const err = new SluiceError('OVERLOADED', `too many open streams on this connection (limit ${this.limits.maxInboundStreams})`);
      this.sendFrame(encodeError(id, err.wireCode, err.toWireMessage()));
      return;
    }
    this.streams.add(stream);
    this.inboundStreams++;
    // An initial n of 2^31-1 means unbounded, as a REQUEST_N of 2^31-1 does.
    stream.sendCredit = model === 'response' ? 1 : addCredit(0, requestN);
    stream.totalRequested = model === 'response' ? 1 : requestN;
    stream.inboundDone = model !== 'channel' || complete;
    try {
      if (model === 'response') stream.handler = this.responder.requestResponse(payload, stream);
      else if (model === 'stream') stream.handler = this.responder.requestStream(payload, stream);
      else stream.handler = this.responder.requestChannel(payload, complete, stream);
    } catch (err) {
      this.log.error({ err, stream: id }, 'responder threw while accepting a request');
      stream.error(SluiceError.from(err));
    }
  }

  // ----------------------------------------------------------------- fragments

  private startRequestFragments(frame: Frame & Payload & { type: number }): void {
    if (this.reassembler.full) {
      const err = tooManyFragments(frame.streamId);
      this.sendFrame(encodeError(frame.streamId, err.wireCode, err.toWireMessage()));
      return;
    }
    const requestN = 'requestN' in frame ? (frame.requestN as number) : 0;
    const ok = this.reassembler.start(
      frame.streamId,
      frame,
      { type: frame.type, requestN, complete: hasFlag(frame.flags, Flags.COMPLETE) },
      Date.now(),
    );
    this.armFragmentTimer();
    if (!ok) this.sendFrame(encodeError(frame.streamId, 0x204, tooLarge(frame.streamId, size(frame), this.limits.maxPayloadSize).toWireMessage()));
  }

  private startPayloadFragments(stream: Stream, frame: Frame & Payload): void {
    if (this.reassembler.full) {
      stream.violate(tooManyFragments(frame.streamId));
      return;
    }
    if (!this.reassembler.start(frame.streamId, frame, undefined, Date.now())) {
      stream.violate(tooLarge(frame.streamId, size(frame), this.limits.maxPayloadSize));
    }
    this.armFragmentTimer();
  }

  /**
   * One timer per connection, for the oldest payload in progress: payloads
   * start in order, so when it fires every expired one is at the front.
   */
  private armFragmentTimer(): void {
    if (this.fragmentTimer || this.state === 'closed') return;
    const oldest = this.reassembler.oldestStartedAt;
    if (oldest === undefined) return;
    const timeout = this.limits.fragmentTimeoutMs;
    this.fragmentTimer = setTimeout(() => {
      this.fragmentTimer = undefined;
      const expired = this.reassembler.expire(Date.now() - timeout);
      if (expired.length) {
        this.abandonFragments(expired, new SluiceError('FRAGMENT_TIMEOUT', `fragmented payload not completed within ${timeout} ms; its fragments were dropped`));
      }
      this.armFragmentTimer();
    }, Math.max(0, oldest + timeout - Date.now()));
    unref(this.fragmentTimer);
  }

  /** Tells each given-up payload's stream why: a request never opened its stream, so the ERROR goes on its id. */
  private abandonFragments(abandoned: Abandoned[], reason: SluiceError): void {
    for (const { streamId, request } of abandoned) {
      const err = new SluiceError(reason.code, `stream ${streamId}: ${reason.message}`);
      const stream = this.streams.get(streamId);
      if (stream) stream.violate(err);
      else if (request && request.type !== FrameType.REQUEST_FNF) this.sendFrame(encodeError(streamId, err.wireCode, err.toWireMessage()));
    }
    if (abandoned.length) this.warn(`fragments-${reason.code}`, { code: reason.code, streams: abandoned.length, reason: reason.message }, 'fragmented payloads dropped');
  }

  private continueFragments(frame: Frame & Payload & { flags: number }): void {
    const result = this.reassembler.add(frame.streamId, frame, hasFlag(frame.flags, Flags.FOLLOWS));
    if (result === 'pending') return;
    const stream = this.streams.get(frame.streamId);
    if (result === 'too-large') {
      const err = tooLarge(frame.streamId, undefined, this.limits.maxPayloadSize);
      if (stream) stream.violate(err);
      else this.sendFrame(encodeError(frame.streamId, err.wireCode, err.toWireMessage()));
      return;
    }
    const { payload, request } = result;
    if (request) {
      const complete = request.complete || hasFlag(frame.flags, Flags.COMPLETE);
      this.onRequest(request.type, frame.streamId, payload, request.requestN, complete);
      return;
    }
    stream?.receivePayload(payload, frame.flags | Flags.NEXT, undefined);
  }

  private oversize(p: Payload): boolean {
    return size(p) > this.limits.maxPayloadSize;
  }

  // ----------------------------------------------------------------- lifecycle

  private openStream(model: InteractionModel, handler: StreamHandler): Stream {
    this.ensureOpen();
    if (this.outboundStreams >= this.limits.maxOutboundStreams) {
      throw new SluiceError('OVERLOADED', `too many open streams on connection ${this.id} (limit ${this.limits.maxOutboundStreams})`);
    }
    const stream = new Stream(this.allocateId(), model, 'requester', this);
    stream.handler = handler;
    this.streams.add(stream);
    this.outboundStreams++;
    return stream;
  }

  private allocateId(): number {
    // Ids wrap after 2^31; skipping ids still in use keeps them unique.
    for (;;) {
      const id = this.nextStreamId;
      this.nextStreamId += 2;
      if (this.nextStreamId > MAX_STREAM_ID) this.nextStreamId = this.role === 'client' ? 1 : 2;
      if (!this.streams.get(id)) return id;
    }
  }

  private ensureOpen(): void {
    if (this.state !== 'open') {
      throw new SluiceError('UNAVAILABLE', this.state === 'closed' ? `connection ${this.id} is closed` : `connection ${this.id} is not set up`);
    }
  }

  protected startTimer(intervalMs: number, sendKeepAlive: boolean): void {
    const tick = Math.max(100, Math.min(intervalMs, this.lifetimeMs / 4, this.idleTimeoutMs > 0 ? this.idleTimeoutMs / 4 : Infinity));
    this.silentSince = Date.now();
    this.timer = setInterval(() => {
      const now = Date.now();
      if (this.idleTimeoutMs > 0 && this.streams.size === 0 && now - this.lastActive > this.idleTimeoutMs) {
        this.log.debug({ idleTimeoutMs: this.idleTimeoutMs, remote: this.remoteAddress }, 'closing idle connection');
        this.close(new SluiceError('CONNECTION_CLOSED', `idle for ${this.idleTimeoutMs} ms (no stream open, no request)`));
        return;
      }
      if (sendKeepAlive) this.sendFrame(encodeKeepAlive(true, this.receivedFrames));
      if (this.heardFrom) {
        this.heardFrom = false;
        this.silentSince = now;
      } else if (now - this.silentSince > this.lifetimeMs) {
        this.fail(new SluiceError('KEEPALIVE_TIMEOUT', `no frame from the peer for ${this.lifetimeMs} ms`));
        return;
      }
    }, tick);
    unref(this.timer);
  }

  private onCongested(buffered: number): void {
    if (buffered >= this.limits.outboundHardLimit) {
      this.fail(new SluiceError('SLOW_CONSUMER', `peer left ${buffered} bytes unread (limit ${this.limits.outboundHardLimit})`));
      return;
    }
    if (this.slowConsumerTimer) return;
    this.slowConsumerTimer = setTimeout(() => {
      this.slowConsumerTimer = undefined;
      if (this.writable) return;
      this.fail(new SluiceError('SLOW_CONSUMER', `peer left ${this.bufferedBytes} bytes unread for over ${this.limits.slowConsumerTimeoutMs} ms`));
    }, this.limits.slowConsumerTimeoutMs);
    unref(this.slowConsumerTimer);
  }

  private onDrain(): void {
    if (this.state === 'closed') return;
    this.outbound?.set(this.transport.bufferedBytes);
    if (!this.writable) return;
    clearTimeout(this.slowConsumerTimer);
    this.slowConsumerTimer = undefined;
    if (this.drainWaiters.size === 0) return;
    // Wake waiters one by one; whoever is not woken before the buffer fills again waits for the next drain.
    for (const waiter of this.drainWaiters) {
      if (!this.writable) return;
      this.drainWaiters.delete(waiter);
      waiter();
    }
  }

  /** A warning the peer can repeat at will: rate limited per peer address and kind when a limiter was given. */
  private warn(kind: string, fields: Record<string, unknown>, msg: string): void {
    if (this.warnings) this.warnings.warn(`${peerHost(this.remoteAddress)}|${kind}`, fields, msg, this.log);
    else this.log.warn(fields, msg);
  }

  /** Ends the connection for a protocol reason: ERROR frame on stream 0, then close. */
  protected fail(error: SluiceError, wireCode?: number): void {
    if (this.state === 'closed') return;
    this.warn(`closing-${error.code}`, { code: error.code, reason: error.message, remote: this.remoteAddress }, 'closing connection');
    this.transport.send(encodeError(0, wireCode ?? error.wireCode, error.toWireMessage()));
    this.shutdown(error);
    this.transport.close();
  }

  private onTransportClose(error?: Error): void {
    if (this.state === 'closed') return;
    this.shutdown(new SluiceError('UNAVAILABLE', `connection ${this.id} closed${error ? `: ${error.message}` : ''}`, { cause: error }));
  }

  private shutdown(error: SluiceError): void {
    this.state = 'closed';
    this.closeError = error;
    clearTimeout(this.setupTimer);
    clearTimeout(this.slowConsumerTimer);
    clearTimeout(this.fragmentTimer);
    this.fragmentTimer = undefined;
    clearInterval(this.timer);
    this.outbound?.release();
    const streams = this.streams.values();
    this.streams = new StreamTable<Stream>();
    this.inboundStreams = 0;
    this.outboundStreams = 0;
    this.reassembler.clear();
    this.held = [];
    this.heldBytes = 0;
    const streamError = error.code === 'UNAVAILABLE' ? error : new SluiceError('UNAVAILABLE', `connection ${this.id} closed: ${error.code}: ${error.message}`);
    for (const s of streams) s.abort(streamError);
    const waiters = [...this.drainWaiters];
    this.drainWaiters.clear();
    for (const w of waiters) w();
    const pings = this.pings;
    this.pings = [];
    for (const p of pings) p.reject(error);
    for (const l of this.closeListeners) l(error);
    this.closeListeners.clear();
  }
}

function checkN(n: number): number {
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`request n must be a positive integer, got ${n}`);
  return Math.min(n, MAX_REQUEST_N);
}

function isLocalId(id: number, role: 'client' | 'server'): boolean {
  return (id % 2 === 1) === (role === 'client');
}

function size(p: Payload): number {
  return (p.data?.length ?? 0) + (p.metadata?.length ?? 0);
}

function tooLarge(streamId: number, bytes: number | undefined, limit: number): SluiceError {
  const what = bytes === undefined ? 'reassembled payload' : `payload of ${bytes} bytes`;
  return new SluiceError('PAYLOAD_TOO_LARGE', `stream ${streamId}: ${what} is over the ${limit}-byte limit`);
}

function tooManyFragments(streamId: number): SluiceError {
  return new SluiceError('OVERLOADED', `stream ${streamId}: too many fragmented payloads in progress on this connection (limit ${Reassembler.MAX_CONCURRENT})`);
}

/** Lets the process exit with the timer pending (Node); browsers' timers have no unref. */
export function unref(timer: unknown): void {
  (timer as { unref?: () => void }).unref?.();
}

/**
 * The server role of a connection (the gateway's side, and a direct server's):
 * waiting for SETUP within `setupTimeoutMs`, checking it (version 1.x, no
 * lease, no resumption), asking `accept` for the responder, holding what the
 * peer sends while an asynchronous accept decides (at most MAX_HELD_FRAMES
 * frames and `maxPayloadSize` bytes, replayed in order), and refusing with a
 * connection-level code. Kept apart from connection.ts so that clients, and
 * the browser bundle in particular, do not carry it.
 */
import { SluiceError, WireCode } from '../errors.js';
import { copyOf } from '../protocol/copy-bytes.js';
import { Flags, FrameType, frameTypeName, hasFlag, type Frame, type SetupFrame } from '../protocol/frames.js';
import { Connection, MAX_HELD_FRAMES, type ConnectionOptions, type Responder, type ServerOptions, type State, unref } from './connection.js';
import type { FrameTransport } from './transport.js';

export class ServerConnection extends Connection {
  private constructor(
    transport: FrameTransport,
    private readonly server: ServerOptions,
    options: ConnectionOptions,
  ) {
    super(transport, 'server', options, server.maxLifetimeMs ?? 600_000);
  }

  /** Server side: waits for SETUP, then serves what `accept` returns. */
  static accept(transport: FrameTransport, server: ServerOptions, options: ConnectionOptions = {}): ServerConnection {
    const conn = new ServerConnection(transport, server, options);
    const timeout = server.setupTimeoutMs ?? 10_000;
    conn.setupTimer = setTimeout(() => {
      conn.fail(new SluiceError('INVALID_SETUP', conn.state === 'accepting' ? `SETUP not accepted within ${timeout} ms` : `no SETUP frame within ${timeout} ms`));
    }, timeout);
    unref(conn.setupTimer);
    return conn;
  }

  protected override onSetup(frame: Frame): void {
    if (frame.type === FrameType.RESUME) {
      this.fail(new SluiceError('UNSUPPORTED_SETUP', 'resumption is not supported'), 0x004);
      return;
    }
    if (frame.type !== FrameType.SETUP) {
      this.fail(new SluiceError('INVALID_SETUP', `first frame must be SETUP, got ${frameTypeName(frame.type)}`));
      return;
    }
    if (frame.majorVersion !== 1) {
      this.fail(new SluiceError('UNSUPPORTED_SETUP', `protocol version ${frame.majorVersion}.${frame.minorVersion} is not supported (1.x only)`));
      return;
    }
    if (hasFlag(frame.flags, Flags.LEASE)) {
      this.fail(new SluiceError('UNSUPPORTED_SETUP', 'lease is not supported'));
      return;
    }
    if (hasFlag(frame.flags, Flags.RESUME_ENABLE)) {
      this.fail(new SluiceError('UNSUPPORTED_SETUP', 'resumption is not supported'));
      return;
    }
    const server = this.server;
    const min = server.minLifetimeMs ?? 1_000;
    const max = server.maxLifetimeMs ?? 600_000;
    this.lifetimeMs = Math.min(Math.max(frame.lifetime, min), max);
    let decision: Responder | Promise<Responder>;
    try {
      decision = server.accept(frame, this);
    } catch (err) {
      this.refuse(err);
      return;
    }
    if (!isPromise(decision)) {
      this.open(frame, decision);
      return;
    }
    this.state = 'accepting';
    decision.then(
      (responder) => {
        if (this.state !== 'accepting') return; // closed while deciding
        this.open(frame, responder);
        const held = this.held;
        this.held = [];
        this.heldBytes = 0;
        for (const bytes of held) {
          if ((this.state as State) !== 'open') return; // a replayed frame may have closed it
          this.dispatch(bytes);
        }
      },
      (err: unknown) => {
        if (this.state === 'accepting') this.refuse(err);
      },
    );
  }

  private open(frame: SetupFrame, responder: Responder): void {
    clearTimeout(this.setupTimer);
    this.responder = responder;
    this.setup = frame;
    this.state = 'open';
    this.startTimer(Math.min(frame.keepAlive, this.lifetimeMs), false);
  }

  private refuse(err: unknown): void {
    // Only connection-level codes may travel on stream 0: anything else accept() throws is a refusal.
    // OVERLOADED keeps its Sluice code on the REJECTED_SETUP wire code: it is a refusal for now, which clients retry.
    const refusal = SluiceError.from(err);
    if (refusal.code === 'OVERLOADED') this.fail(refusal, WireCode.REJECTED_SETUP);
    else this.fail(refusal.wireCode <= WireCode.CONNECTION_CLOSE ? refusal : new SluiceError('REJECTED_SETUP', refusal.message, { cause: refusal }));
  }

  /** Keeps a frame that arrived before acceptance; a peer that sends too much before it is accepted is cut off. */
  protected override hold(bytes: Uint8Array): void {
    if (this.held.length >= MAX_HELD_FRAMES || this.heldBytes + bytes.length > this.limits.maxPayloadSize) {
      this.fail(
        new SluiceError(
          'PROTOCOL_VIOLATION',
          `more than ${MAX_HELD_FRAMES} frames or ${this.limits.maxPayloadSize} bytes sent before the SETUP was accepted; wait for the answer to a KEEPALIVE first`,
        ),
      );
      return;
    }
    this.held.push(copyOf(bytes));
    this.heldBytes += bytes.length;
  }
}

function isPromise<T>(v: T | Promise<T>): v is Promise<T> {
  return typeof (v as { then?: unknown } | null)?.then === 'function';
}

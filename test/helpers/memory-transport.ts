/**
 * In-memory `FrameTransport`s for unit tests: two ends connected back to back,
 * so a `Connection` can talk to another `Connection` (or to a test that plays
 * the peer with raw frames) without sockets.
 *
 * - Delivery is asynchronous by default: each frame reaches the peer in its
 *   own microtask, in order, like a socket's data events. `{ sync: true }`
 *   delivers inside `send()` instead. `settle()` waits until every queued
 *   delivery has run.
 * - Congestion is simulated per end: `pause()` holds sent frames and counts
 *   them in `bufferedBytes` (the peer "stops reading"); `resume()` delivers
 *   them and fires the handler's `onDrain`. `setBufferedBytes(n)` adds bytes
 *   that are never delivered, and `drain()` fires `onDrain` without changing
 *   anything, to test that a drain while still congested wakes nobody.
 * - `close()` flushes held frames, then both ends see `onClose()`;
 *   `destroy()` drops held frames; `disconnect(error)` simulates the network
 *   going away under both ends.
 *
 * Timers are never used, so `vi.useFakeTimers()` does not stall delivery
 * (vitest does not fake `queueMicrotask`).
 */
import { decodeFrame } from '../../src/protocol/codec.js';
import type { Frame } from '../../src/protocol/frames.js';
import type { FrameTransport, TransportHandler } from '../../src/rsocket/transport.js';

export interface MemoryTransportOptions {
  /** Deliver frames synchronously inside `send()`. Default false (one microtask per frame). */
  sync?: boolean;
}

/** Deliveries scheduled and not yet run, over all pairs: `settle()` waits for 0. */
let pendingDeliveries = 0;

export class MemoryTransport implements FrameTransport {
  /** The other end; set by `memoryPair()`. */
  peer!: MemoryTransport;
  /** A copy of every frame passed to `send()`, in order, including ones never delivered. */
  readonly sent: Uint8Array[] = [];
  /** Times `close()` / `destroy()` were called on this end. */
  closeCalls = 0;
  destroyCalls = 0;
  /** This end has delivered its `onClose`; no more events follow. */
  closed = false;
  /** The error this end's `onClose` carried, if any. */
  closeError: Error | undefined;

  private handler: TransportHandler | undefined;
  /** Frames that arrived before `start()`. */
  private readonly early: Array<() => void> = [];
  private held: Uint8Array[] = [];
  private paused = false;
  private extraBuffered = 0;
  private closing = false;

  constructor(
    readonly remoteAddress: string,
    private readonly sync: boolean,
  ) {}

  get bufferedBytes(): number {
    return this.extraBuffered + this.held.reduce((n, f) => n + f.length, 0);
  }

  /** Frames held by `pause()` and not delivered yet. */
  get heldFrames(): number {
    return this.held.length;
  }

  start(handler: TransportHandler): void {
    if (this.handler) throw new Error('MemoryTransport: start() called twice');
    this.handler = handler;
    for (const event of this.early.splice(0)) event();
  }

  send(frame: Uint8Array): void {
    const copy = frame.slice();
    this.sent.push(copy);
    if (this.closing || this.closed) return;
    if (this.paused) {
      this.held.push(copy.slice());
      return;
    }
    this.deliver(copy.slice());
  }

  close(): void {
    this.closeCalls++;
    if (this.closing || this.closed) return;
    this.closing = true;
    for (const f of this.held.splice(0)) this.deliver(f);
    this.extraBuffered = 0;
    this.schedule(() => {
      this.peer.finish(undefined);
      this.finish(undefined);
    });
  }

  destroy(): void {
    this.destroyCalls++;
    if (this.closing || this.closed) return;
    this.closing = true;
    this.held = [];
    this.extraBuffered = 0;
    this.schedule(() => {
      this.peer.finish(new Error('peer destroyed the transport'));
      this.finish(undefined);
    });
  }

  // ------------------------------------------------------------ test controls

  /** The peer stops reading: frames sent from this end are held and counted in `bufferedBytes`. */
  pause(): void {
    this.paused = true;
  }

  /** The peer reads again: held frames are delivered, extra bytes cleared, then `onDrain` fires. */
  resume(): void {
    this.paused = false;
    this.extraBuffered = 0;
    for (const f of this.held.splice(0)) this.deliver(f);
    this.handler?.onDrain();
  }

  /** Bytes counted in `bufferedBytes` on top of held frames (never delivered). */
  setBufferedBytes(n: number): void {
    this.extraBuffered = n;
  }

  /** Fires `onDrain` on this end's handler without changing `bufferedBytes`. */
  drain(): void {
    this.handler?.onDrain();
  }

  /** The peer sends something that cannot be a frame (e.g. a WebSocket text message). */
  injectInvalid(reason: string): void {
    this.schedule(() => this.receiveInvalid(reason));
  }

  /** The network goes away: both ends see `onClose(error)`, nothing held is delivered. */
  disconnect(error: Error = new Error('network down')): void {
    this.closing = true;
    this.peer.closing = true;
    this.held = [];
    this.schedule(() => {
      this.finish(error);
      this.peer.finish(error);
    });
  }

  // ------------------------------------------------------------------ private

  private deliver(frame: Uint8Array): void {
    const peer = this.peer;
    this.schedule(() => peer.receive(frame));
  }

  private schedule(fn: () => void): void {
    if (this.sync) {
      fn();
      return;
    }
    pendingDeliveries++;
    queueMicrotask(() => {
      pendingDeliveries--;
      fn();
    });
  }

  private receive(frame: Uint8Array): void {
    if (this.closed) return;
    if (!this.handler) {
      this.early.push(() => this.receive(frame));
      return;
    }
    this.handler.onFrame(frame);
  }

  private receiveInvalid(reason: string): void {
    if (this.closed) return;
    if (!this.handler) {
      this.early.push(() => this.receiveInvalid(reason));
      return;
    }
    this.handler.onInvalid(reason);
  }

  private finish(error: Error | undefined): void {
    if (this.closed) return;
    this.closed = true;
    this.closing = true;
    this.closeError = error;
    this.held = [];
    this.handler?.onClose(error);
  }
}

/** Two transports connected back to back: what one end sends, the other receives. */
export function memoryPair(options: MemoryTransportOptions = {}): [MemoryTransport, MemoryTransport] {
  const a = new MemoryTransport('memory:b', options.sync ?? false);
  const b = new MemoryTransport('memory:a', options.sync ?? false);
  a.peer = b;
  b.peer = a;
  return [a, b];
}

/**
 * Waits until every scheduled delivery has run (including deliveries those
 * deliveries caused), plus a few microtask turns for promise chains. Uses no
 * timers, so it works the same under fake timers.
 */
export async function settle(): Promise<void> {
  let idle = 0;
  for (let i = 0; i < 100_000 && idle < 20; i++) {
    await Promise.resolve();
    idle = pendingDeliveries === 0 ? idle + 1 : 0;
  }
}

/**
 * The test plays one side of the connection with raw frames: everything the
 * other end sends is decoded and recorded.
 */
export interface RawPeer {
  readonly transport: MemoryTransport;
  /** Every frame received, decoded. */
  readonly frames: Frame[];
  /** Every frame received, as bytes. */
  readonly bytes: Uint8Array[];
  /** Calls of onInvalid / onDrain received. */
  readonly invalid: string[];
  drains: number;
  /** Set when the transport closed. */
  readonly closed: boolean;
  send(frame: Uint8Array): void;
  /** Removes and returns what was received so far. */
  take(): Frame[];
}

export function rawPeer(transport: MemoryTransport): RawPeer {
  const frames: Frame[] = [];
  const bytes: Uint8Array[] = [];
  const invalid: string[] = [];
  let closed = false;
  const peer: RawPeer = {
    transport,
    frames,
    bytes,
    invalid,
    drains: 0,
    get closed() {
      return closed;
    },
    send: (frame) => transport.send(frame),
    take: () => {
      bytes.splice(0);
      return frames.splice(0);
    },
  };
  transport.start({
    onFrame(frame) {
      bytes.push(frame);
      frames.push(decodeFrame(frame));
    },
    onInvalid(reason) {
      invalid.push(reason);
    },
    onDrain() {
      peer.drains++;
    },
    onClose() {
      closed = true;
    },
  });
  return peer;
}

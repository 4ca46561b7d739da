/**
 * Two FrameTransports joined back to back inside one process: how the
 * gateway talks to itself (dead-letter replays enter through its own front
 * door, SETUP and grant checks included) without a socket, a port or a TLS
 * handshake. Each frame is delivered in its own microtask, in order, like a
 * socket's data events. Nothing is buffered beyond the frames in flight, so
 * `bufferedBytes` is 0: the callers (one replay at a time) pace themselves.
 */
import type { FrameTransport, TransportHandler } from './transport.js';
import { copyOf } from '../protocol/copy-bytes.js';

class InProcessEnd implements FrameTransport {
  peer!: InProcessEnd;
  readonly bufferedBytes = 0;
  private handler: TransportHandler | undefined;
  /** Events that arrived before `start()`, replayed then (a peer may send its SETUP first). */
  private early: Array<(h: TransportHandler) => void> | undefined = [];
  private closed = false;
  private finished = false;

  constructor(readonly remoteAddress: string) {}

  start(handler: TransportHandler): void {
    if (this.handler) throw new Error('in-process transport: start() called twice');
    this.handler = handler;
    const early = this.early ?? [];
    this.early = undefined;
    for (const event of early) event(handler);
  }

  send(frame: Uint8Array): void {
    if (this.closed) return;
    // The receiver owns what it is handed; the sender may reuse its buffer.
    const copy = copyOf(frame);
    queueMicrotask(() => this.peer.receive((h) => h.onFrame(copy)));
  }

  close(): void {
    this.end();
  }

  destroy(): void {
    this.end();
  }

  private end(): void {
    if (this.closed) return;
    this.closed = true;
    // After the frames already sent, like a socket's FIN.
    queueMicrotask(() => {
      this.peer.finish();
      this.finish();
    });
  }

  private finish(): void {
    if (this.finished) return;
    this.finished = true;
    this.closed = true;
    this.receive((h) => h.onClose());
    this.early = undefined;
  }

  private receive(event: (h: TransportHandler) => void): void {
    if (this.handler) event(this.handler);
    else this.early?.push(event);
  }
}

/** Two joined ends: what one sends, the other receives. `remoteAddress` names the pair in logs. */
export function inProcessPair(remoteAddress = 'in-process'): [FrameTransport, FrameTransport] {
  const a = new InProcessEnd(remoteAddress);
  const b = new InProcessEnd(remoteAddress);
  a.peer = b;
  b.peer = a;
  return [a, b];
}

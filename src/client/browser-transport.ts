/**
 * RSocket over the browser's native WebSocket: one binary message per frame.
 *
 * Browsers give no write callback and no drain event, only
 * `WebSocket.bufferedAmount` (bytes queued and not yet sent). That number is
 * what `bufferedBytes` reports, so the engine pauses producers and the
 * demand logic holds back exactly as it does over `ws` in Node. To tell the
 * connection when the queue goes down, the transport polls `bufferedAmount`
 * with a timer, and only while it is non-zero: an idle socket runs no timer.
 */
import { SluiceError } from '../errors.js';
import type { FrameTransport, TransportHandler } from '../rsocket/transport.js';

/** How often `bufferedAmount` is checked while it is non-zero, in ms. */
export const DRAIN_POLL_MS = 16;

/** Largest frame accepted from the gateway, in bytes (the gateway's default maxFrameSize). */
export const BROWSER_MAX_FRAME = 2 * 1024 * 1024;

export class BrowserWebSocketTransport implements FrameTransport {
  private handler: TransportHandler | undefined;
  private poll: ReturnType<typeof setInterval> | undefined;
  private lastBuffered = 0;
  private closed = false;

  constructor(
    private readonly ws: WebSocket,
    readonly remoteAddress: string,
  ) {
    ws.binaryType = 'arraybuffer';
  }

  get bufferedBytes(): number {
    return this.ws.bufferedAmount;
  }

  start(handler: TransportHandler): void {
    this.handler = handler;
    this.ws.onmessage = (event: MessageEvent) => {
      if (typeof event.data === 'string') {
        handler.onInvalid('text WebSocket message: RSocket frames travel as binary messages');
        return;
      }
      const bytes = new Uint8Array(event.data as ArrayBuffer);
      if (bytes.length > BROWSER_MAX_FRAME) {
        handler.onInvalid(`frame of ${bytes.length} bytes is over the ${BROWSER_MAX_FRAME}-byte limit`);
        return;
      }
      handler.onFrame(bytes);
    };
    // An error event is always followed by a close event; the close carries the outcome.
    this.ws.onerror = null;
    this.ws.onclose = (event: CloseEvent) => {
      this.closed = true;
      this.stopPolling();
      handler.onClose(event.code === 1000 ? undefined : new Error(`WebSocket closed with code ${event.code}${event.reason ? `: ${event.reason}` : ''}`));
    };
  }

  send(frame: Uint8Array): void {
    if (this.closed || this.ws.readyState !== WebSocket.OPEN) return;
    this.ws.send(frame);
    if (this.ws.bufferedAmount > 0) this.startPolling();
  }

  close(): void {
    // The browser flushes what is queued before it sends the close frame.
    this.stopPolling();
    if (this.ws.readyState === WebSocket.OPEN || this.ws.readyState === WebSocket.CONNECTING) this.ws.close(1000);
  }

  destroy(): void {
    // Browsers cannot drop a WebSocket's queue; closing is the closest they allow.
    this.close();
  }

  private startPolling(): void {
    this.lastBuffered = this.ws.bufferedAmount;
    if (this.poll !== undefined) return;
    this.poll = setInterval(() => {
      const now = this.ws.bufferedAmount;
      if (now < this.lastBuffered) this.handler?.onDrain();
      this.lastBuffered = now;
      if (now === 0) this.stopPolling();
    }, DRAIN_POLL_MS);
  }

  private stopPolling(): void {
    clearInterval(this.poll);
    this.poll = undefined;
  }
}

/**
 * Opens a browser WebSocket to `url` (`ws://` or `wss://`) as a FrameTransport;
 * rejects with UNAVAILABLE when it cannot open.
 */
export function browserTransport(url: string): Promise<FrameTransport> {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return Promise.reject(new SluiceError('INVALID_ARGUMENT', `not a URL: '${url}'`));
  }
  if (parsed.protocol !== 'ws:' && parsed.protocol !== 'wss:') {
    return Promise.reject(new SluiceError('INVALID_ARGUMENT', `unsupported URL scheme '${parsed.protocol}' (browsers use ws:// or wss://)`));
  }
  return new Promise((resolve, reject) => {
    let ws: WebSocket;
    try {
      ws = new WebSocket(url);
    } catch (err) {
      reject(new SluiceError('UNAVAILABLE', `cannot open ${url}: ${(err as Error).message}`, { cause: err }));
      return;
    }
    ws.binaryType = 'arraybuffer';
    // Browsers hide why a WebSocket failed (no status, no reason): only that it closed before opening.
    ws.onclose = (event) => reject(new SluiceError('UNAVAILABLE', `cannot open ${url} (WebSocket closed with code ${event.code})`));
    ws.onopen = () => {
      ws.onclose = null;
      ws.onopen = null;
      resolve(new BrowserWebSocketTransport(ws, parsed.host));
    };
  });
}

/**
 * The one interface every byte carrier implements (WebSocket server and
 * client, browser WebSocket, TCP, in-memory). One RSocket frame per `send`;
 * framing (WebSocket messages, TCP length prefixes) is the transport's job.
 */
export interface FrameTransport {
  /** Queues one encoded frame. Never blocks; see `bufferedBytes`. */
  send(frame: Uint8Array): void;
  /** Bytes accepted by `send` and not yet handed to the operating system. */
  readonly bufferedBytes: number;
  /** Peer address for logs, e.g. `127.0.0.1:51234`. */
  readonly remoteAddress: string;
  /** Installs the single receiver of transport events; call once. */
  start(handler: TransportHandler): void;
  /** Flushes what is queued, then closes. */
  close(): void;
  /** Closes at once, dropping what is queued. */
  destroy(): void;
}

export interface TransportHandler {
  /** One complete frame, as received (the transport hands over ownership). */
  onFrame(frame: Uint8Array): void;
  /** Something arrived that cannot be a frame (e.g. a WebSocket text message). */
  onInvalid(reason: string): void;
  /** `bufferedBytes` went down; the connection may resume pulling from producers. */
  onDrain(): void;
  /** The carrier is closed; no more events follow. */
  onClose(error?: Error): void;
}

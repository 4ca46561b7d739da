import type { FrameTransport } from '../rsocket/transport.js';

/** How a Node client trusts a gateway's TLS certificate (`wss://`, `tls://`). Browsers use the system's trust and ignore it. */
export interface TlsClientOptions {
  /** PEM certificate(s) of the authorities to trust instead of the system's, e.g. a self-signed gateway certificate. */
  ca?: string | Uint8Array | ReadonlyArray<string | Uint8Array>;
}

/** Options a transport factory may use; each ignores what does not apply to it. */
export interface TransportOptions {
  tls?: TlsClientOptions;
}

/** Opens a transport to `url`; the Node and browser entries each supply one. */
export type TransportFactory = (url: string, options?: TransportOptions) => Promise<FrameTransport>;

export type { FrameTransport };

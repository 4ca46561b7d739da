import type { FrameTransport } from '../../src/rsocket/transport.js';

/** Opens a transport to `url`; the Node and browser entries each supply one. */
export type TransportFactory = (url: string) => Promise<FrameTransport>;

export type { FrameTransport };

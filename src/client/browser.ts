/**
 * The client over the browser's WebSocket: `connect({ url })` with the same
 * API as the Node client. Isomorphic code only, so a bundle of it (and of
 * the dashboard, which uses it) carries no Node built-in.
 */
import { connectWith, type Client, type ClientOptions } from './connect.js';
import { browserTransport } from './browser-transport.js';

/** Connects to a gateway over the browser's WebSocket; see `ClientOptions`. */
export function connect(options: ClientOptions): Promise<Client> {
  return connectWith(browserTransport, options);
}

export { browserTransport };
export { BrowserWebSocketTransport, DRAIN_POLL_MS } from './browser-transport.js';
export * from './index.js';

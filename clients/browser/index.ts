/**
 * Sluice client for browsers: `connect({ url })` over the native WebSocket,
 * with the same API as the Node client (request-response, request-stream as
 * an Observable or a pull-driven iterator, request-channel, fire-and-forget,
 * typed errors). The entry point only: the code is src/client/. Bundled by
 * `npm run build:browser` into `clients/browser/dist/sluice.js`; see
 * docs/browser.md.
 *
 * @example
 *   import { connect } from './sluice.js';
 *   const client = await connect({ url: 'ws://127.0.0.1:7878', reconnect: true });
 *   for await (const item of client.iterateStream('bench.source', { count: 5 }, { prefetch: 1 })) show(item);
 */
export * from '../../src/client/browser.js';

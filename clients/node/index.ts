/**
 * Sluice client for Node: `connect({ url })` over WebSocket (`ws://`) or TCP (`tcp://`).
 * The entry point only: the client is the isomorphic core in src/client/,
 * the Node dialers are in src/transport/client-transport.ts.
 *
 * @example
 *   const client = await connect({ url: 'ws://127.0.0.1:7878' });
 *   const echo = await client.requestResponse('bench.echo', { hello: 'sluice' });
 */
export { connect, nodeTransport } from '../../src/transport/client-transport.js';
export * from '../../src/client/index.js';

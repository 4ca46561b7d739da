/**
 * Sluice client for Node: `connect({ url })` over WebSocket (`ws://`) or TCP (`tcp://`).
 *
 * @example
 *   const client = await connect({ url: 'ws://127.0.0.1:7878' });
 *   const echo = await client.requestResponse('bench.echo', { hello: 'sluice' });
 */
import { connectWith, type Client, type ClientOptions } from '../core/connect.js';
import { nodeTransport } from './transport.js';

export function connect(options: ClientOptions): Promise<Client> {
  return connectWith(nodeTransport, options);
}

export { nodeTransport };
export * from '../core/index.js';

/**
 * `connect()` for any runtime: given a transport factory, opens a confirmed
 * connection (optionally kept up by a Reconnector) and returns the client API.
 */
import type { SluiceError } from '../errors.js';
import type { Connection } from '../rsocket/connection.js';
import { SluiceClient } from './client.js';
import { establish, type ConnectOptions } from './connector.js';
import { Reconnector, type ReconnectOptions } from './reconnect.js';
import type { TransportFactory } from './transport.js';

export interface ClientOptions extends Omit<ConnectOptions, 'responder'> {
  /** Reconnect when the connection drops. Default false for clients. */
  reconnect?: boolean | Partial<ReconnectOptions>;
  /** Called on every (re)connection and disconnection. */
  onStatus?: (status: ConnectionStatus) => void;
}

export type ConnectionStatus =
  | { state: 'connected' }
  | { state: 'disconnected'; error?: SluiceError | undefined; retrying: boolean }
  | { state: 'failed'; error: SluiceError };

export class Client extends SluiceClient {
  constructor(
    source: { readonly current: Connection | undefined },
    private readonly shutdown: () => void,
  ) {
    super(source);
  }

  /** Closes the connection (and stops reconnecting). In-flight interactions end with UNAVAILABLE. */
  close(): void {
    this.shutdown();
  }
}

export async function connectWith(factory: TransportFactory, options: ClientOptions): Promise<Client> {
  const open = () => establish(factory, options);
  const status = options.onStatus ?? (() => {});
  if (!options.reconnect) {
    const conn = await open();
    conn.onClose((error) => status({ state: 'disconnected', error, retrying: false }));
    status({ state: 'connected' });
    return new Client({ current: conn }, () => conn.close());
  }
  const reconnector = new Reconnector(open, options.reconnect === true ? {} : options.reconnect, {
    connected: () => status({ state: 'connected' }),
    disconnected: (error) => status({ state: 'disconnected', error, retrying: true }),
    failed: (error) => status({ state: 'failed', error }),
  }, options.logger, { renewable: typeof options.token === 'function' });
  await reconnector.start();
  return new Client(reconnector, () => reconnector.close());
}

/**
 * `connect()` for any runtime: given a transport factory, opens a confirmed
 * connection (optionally kept up by a Reconnector) and returns the client API.
 * Given several gateway URLs (a fleet), the client holds one connection at a
 * time and fails over to the next URL when it is lost.
 */
import type { SluiceError } from '../errors.js';
import type { Connection } from '../rsocket/connection.js';
import { SluiceClient, resolveFailover, type FailoverOptions } from './client.js';
import { establish, type ConnectOptions } from './connector.js';
import { GatewayUrls, type FirstUrl } from './gateway-urls.js';
import { Reconnector, type ReconnectOptions } from './reconnect.js';
import type { TransportFactory } from './transport.js';

export interface ClientOptions extends Omit<ConnectOptions, 'responder' | 'url'> {
  /**
   * The gateway's URL (`ws://127.0.0.1:7878`, `wss://...`, or from Node
   * `tcp://host:port`, `tls://host:port`), or the URLs of a fleet of
   * gateways: the client connects to one and, when it is lost or refuses,
   * moves to the next (at most 64 URLs).
   */
  url: string | readonly string[];
  /** With several URLs, which one to try first: `random` (default, spreads clients over the fleet) or `first`. */
  firstUrl?: FirstUrl;
  /** Reconnect when the connection drops. Default false for one URL, true for a list (failing over is the point of a list). */
  reconnect?: boolean | Partial<ReconnectOptions>;
  /** How idempotent request-responses outlive a lost connection. Default 2 retries, each waiting up to 5000 ms for a connection. */
  failover?: Partial<FailoverOptions>;
  /** Called on every (re)connection and disconnection. */
  onStatus?: (status: ConnectionStatus) => void;
}

export type ConnectionStatus =
  | { state: 'connected'; url: string }
  | { state: 'disconnected'; error?: SluiceError | undefined; retrying: boolean }
  | { state: 'failed'; error: SluiceError };

/** Where the client's connection comes from, and the URL it was opened to. */
interface ClientSource {
  readonly current: Connection | undefined;
  readonly url: string | undefined;
  nextConnection?(timeoutMs: number): Promise<Connection>;
}

export class Client extends SluiceClient {
  constructor(
    private readonly clientSource: ClientSource,
    private readonly shutdown: () => void,
    failover: Partial<FailoverOptions> = {},
  ) {
    super(clientSource, failover);
  }

  /** The URL of the gateway the client is connected to now; undefined while disconnected. */
  get url(): string | undefined {
    return this.clientSource.current ? this.clientSource.url : undefined;
  }

  /** Closes the connection (and stops reconnecting). In-flight interactions end with UNAVAILABLE. */
  close(): void {
    this.shutdown();
  }
}

export async function connectWith(factory: TransportFactory, options: ClientOptions): Promise<Client> {
  const urls = new GatewayUrls(options.url, options.firstUrl);
  const { url: _list, firstUrl: _first, reconnect: _reconnect, failover, onStatus, ...connectOptions } = options;
  // Checked before anything opens, like the other options.
  resolveFailover(failover);
  const opened = new WeakMap<Connection, string>();
  const open = async () => {
    const url = urls.next();
    const conn = await establish(factory, { ...connectOptions, url });
    opened.set(conn, url);
    return conn;
  };
  const status = onStatus ?? (() => {});
  const reconnect = options.reconnect ?? urls.urls.length > 1;
  if (!reconnect) {
    const conn = await open();
    conn.onClose((error) => status({ state: 'disconnected', error, retrying: false }));
    status({ state: 'connected', url: opened.get(conn)! });
    return new Client({ current: conn, url: opened.get(conn) }, () => conn.close(), failover);
  }
  const reconnector = new Reconnector(open, reconnect === true ? {} : reconnect, {
    connected: (conn) => status({ state: 'connected', url: opened.get(conn)! }),
    disconnected: (error) => status({ state: 'disconnected', error, retrying: true }),
    failed: (error) => status({ state: 'failed', error }),
  }, options.logger, { renewable: typeof options.token === 'function' });
  await reconnector.start();
  const source: ClientSource = {
    get current() {
      return reconnector.current;
    },
    get url() {
      const c = reconnector.current;
      return c ? opened.get(c) : undefined;
    },
    nextConnection: (timeoutMs) => reconnector.nextConnection(timeoutMs),
  };
  return new Client(source, () => reconnector.close(), failover);
}

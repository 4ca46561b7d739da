/**
 * Opens one RSocket connection to a Sluice gateway and confirms it: SETUP,
 * then a KEEPALIVE that the gateway answers only once it accepted the SETUP.
 * A refused SETUP (bad registration, wrong MIME types, a refused token)
 * rejects with its code: never "connected" on a credential the gateway
 * refused.
 */
import { SluiceError } from '../errors.js';
import { MimeTypes, encodeComposite, type MetadataEntry } from '../protocol/metadata.js';
import { Connection, refusingResponder, type ConnectionLimits, type KeepAliveOptions, type Responder } from '../rsocket/connection.js';
import type { Logger } from '../observability/log.js';
import { bearerEntry, resolveToken, type TokenSource } from './token.js';
import { resolveTokenRefresh, startTokenRefresh, type TokenRefreshOptions } from './token-refresh.js';
import type { TlsClientOptions, TransportFactory } from './transport.js';

export interface ConnectOptions {
  /** `ws://127.0.0.1:7878`, `wss://...` (or `tcp://host:port`, `tls://host:port` from Node). */
  url: string;
  /** Node: which certificate authorities to trust for `wss://` and `tls://` (default: the system's). Browsers ignore it. */
  tls?: TlsClientOptions;
  /** Extra SETUP metadata entries (authentication, registration). */
  setupMetadata?: readonly MetadataEntry[];
  keepAlive?: Partial<KeepAliveOptions>;
  limits?: Partial<ConnectionLimits>;
  /** Serves requests the gateway sends to this side (services). Default: refuse all. */
  responder?: Responder;
  logger?: Logger;
  /** Ms to wait for the token provider, the transport and the SETUP confirmation. Default 10 s. */
  connectTimeoutMs?: number;
  /**
   * Bearer token (a JWT) presented in SETUP, or a provider of tokens. A
   * provider is called on every (re)connection, and again before the
   * current token's `exp` (see `tokenRefresh`): the new token goes to the
   * gateway by METADATA_PUSH on the live connection. Default: none, the
   * gateway's anonymous grant applies.
   */
  token?: TokenSource;
  /** When a provider's token is refreshed. Default: at 80% of its remaining lifetime, at least 5 s before `exp`. */
  tokenRefresh?: Partial<TokenRefreshOptions>;
}

export async function establish(transportFactory: TransportFactory, options: ConnectOptions): Promise<Connection> {
  // Checked before anything opens: a bad option fails every attempt alike.
  const refresh = resolveTokenRefresh(options.tokenRefresh);
  const timeoutMs = options.connectTimeoutMs ?? 10_000;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new SluiceError('UNAVAILABLE', `no connection to ${options.url} within ${timeoutMs} ms`)), timeoutMs);
  });
  let conn: Connection | undefined;
  try {
    const token = options.token === undefined ? undefined : await Promise.race([resolveToken(options.token), timeout]);
    const setupMetadata = [...(token === undefined ? [] : [bearerEntry(token)]), ...(options.setupMetadata ?? [])];
    const transport = await Promise.race([transportFactory(options.url, options.tls ? { tls: options.tls } : {}), timeout]);
    conn = Connection.connect(
      transport,
      {
        metadataMimeType: MimeTypes.COMPOSITE,
        dataMimeType: MimeTypes.JSON,
        metadata: setupMetadata.length ? encodeComposite(setupMetadata) : null,
        ...(options.keepAlive ? { keepAlive: options.keepAlive } : {}),
      },
      options.responder ?? refusingResponder,
      { ...(options.logger ? { logger: options.logger } : {}), ...(options.limits ? { limits: options.limits } : {}) },
    );
    await Promise.race([conn.ping(), timeout]);
    if (typeof options.token === 'function' && token !== undefined) {
      startTokenRefresh(conn, options.token, token, refresh, undefined, conn.log);
    }
    return conn;
  } catch (err) {
    conn?.close();
    throw err instanceof SluiceError ? err : new SluiceError('UNAVAILABLE', `cannot connect to ${options.url}: ${(err as Error).message}`, { cause: err });
  } finally {
    clearTimeout(timer);
  }
}

/**
 * The embedded service API: a process declares its routes, connects to the
 * gateway like any client (registration rides in SETUP metadata), serves
 * requests, and stays connected: on loss it reconnects with backoff and
 * registers again by itself. With a fleet of gateways it connects to every
 * one of them (a URL list, or discovery as gateways join and leave), and
 * its concurrency cap holds over all of them together. It can also call
 * other routes through the gateways with `service.client`.
 */
import { randomUUID } from 'node:crypto';
import { SluiceClient } from '../client/client.js';
import { establish } from '../client/connector.js';
import { Reconnector, type ReconnectOptions } from '../client/reconnect.js';
import type { TokenSource } from '../client/token.js';
import type { TokenRefreshOptions } from '../client/token-refresh.js';
import type { TlsClientOptions, TransportFactory } from '../client/transport.js';
import { nodeTransport } from '../transport/client-transport.js';
import { SluiceError } from '../errors.js';
import { parseRegistration, registrationEntry, type Registration } from '../protocol/registration.js';
import type { ConnectionLimits, KeepAliveOptions } from '../rsocket/connection.js';
import { silentLogger, type Logger } from '../observability/log.js';
import { loadTracer, type Tracer, type TracingOptions } from '../observability/tracing.js';
import type { RouteTable } from './handlers.js';
import type { GatewayDiscovery } from './gateway-discovery.js';
import { GatewayLinks, MAX_GATEWAY_LINKS } from './gateway-links.js';
import { createServiceResponder } from './responder.js';

/** Requests an instance serves at once by default (`maxConcurrent`), and from one gateway connection (`limits.maxInboundStreams`). */
export const DEFAULT_MAX_CONCURRENT = 65_536;

export interface ServiceOptions {
  /**
   * Gateway URL: `ws://127.0.0.1:7878`, `tcp://127.0.0.1:7880`, or with TLS
   * `wss://...`, `tls://...`; or the URLs of every gateway of a fleet: the
   * instance connects to each (at most 64). Give `url`, `discovery`, or both.
   */
  url?: string | readonly string[];
  /** Where to find the fleet's gateways as they join and leave (e.g. `natsDiscovery`); connected to on top of `url`. */
  discovery?: GatewayDiscovery;
  /**
   * Requests this instance serves at once, over all its gateway connections
   * together (request-response, streams and channels in progress, and
   * fire-and-forget handlers running). Beyond it requests are refused with
   * OVERLOADED (fire-and-forget dropped and logged), so a fleet of N
   * gateways cannot hand it N times its share. Default 65536, range 1-10000000.
   */
  maxConcurrent?: number;
  /** Which certificate authorities to trust for `wss://` and `tls://` (default: the system's). */
  tls?: TlsClientOptions;
  /** Service name, e.g. `payment`. */
  service: string;
  /** Unique id of this process among the service's instances. Default `<service>-<random>`. */
  instance?: string;
  routes: RouteTable;
  reconnect?: Partial<ReconnectOptions>;
  keepAlive?: Partial<KeepAliveOptions>;
  /**
   * Connection limits, per gateway connection. `maxInboundStreams` caps
   * concurrent requests from one gateway (default 65536): beyond it requests
   * are refused with OVERLOADED. The instance-wide cap is `maxConcurrent`.
   */
  limits?: Partial<ConnectionLimits>;
  logger?: Logger;
  transport?: TransportFactory;
  /**
   * Bearer token (a JWT) granting this service its registration (and the
   * routes it calls), or a provider called on every (re)connection and
   * before the token expires. A gateway with auth on refuses registrations
   * without one. Default: none.
   */
  token?: TokenSource;
  /** When a provider's token is refreshed. Default: at 80% of its remaining lifetime, at least 5 s before `exp`. */
  tokenRefresh?: Partial<TokenRefreshOptions>;
  /**
   * A span per request served, exported over OTLP/HTTP. Default: from the
   * standard environment (`OTEL_EXPORTER_OTLP_ENDPOINT`, `OTEL_SERVICE_NAME`,
   * else the service's name); off when no endpoint is set. `false` turns it
   * off whatever the environment says. Trace context is passed on either way.
   */
  tracing?: TracingOptions | false;
}

export interface ServiceStatusEvents {
  /** Registered with the gateway at `url`. */
  connected(url: string): void;
  /** Lost the gateway at `url`; reconnecting (unless it left the fleet). */
  disconnected(error: SluiceError | undefined, url: string): void;
  /** The gateway at `url` refused the registration or credential for good: that link stops. */
  failed(error: SluiceError, url: string): void;
}

export interface Service {
  readonly service: string;
  readonly instance: string;
  /** Calls other routes through the gateway, over this service's connection. */
  readonly client: SluiceClient;
  /** The tracer making this service's spans; undefined when tracing is off. For spans of the service's own (a saga's steps). */
  readonly tracer: Tracer | undefined;
  /** True while at least one gateway connection is up. */
  readonly connected: boolean;
  /** The gateways linked now (connected or reconnecting). */
  readonly gateways: readonly string[];
  /** Gateways connected now. */
  readonly connectedGateways: number;
  /** Requests being served now, over every gateway. */
  readonly inFlight: number;
  /** Stops serving: closes every connection, stops reconnecting and watching for gateways. */
  close(): void;
}

/**
 * Connects, registers and resolves once a gateway has accepted the
 * registration (the first of the fleet; the others follow). Rejects when a
 * gateway refuses it for good before any accepted it.
 */
export async function connectService(options: ServiceOptions, events: Partial<ServiceStatusEvents> = {}): Promise<Service> {
  const instance = options.instance ?? `${options.service}-${randomUUID().slice(0, 8)}`;
  const registration = validate(options, instance);
  const fixed = fixedUrls(options);
  const maxConcurrent = options.maxConcurrent ?? DEFAULT_MAX_CONCURRENT;
  if (!Number.isInteger(maxConcurrent) || maxConcurrent < 1 || maxConcurrent > 10_000_000) {
    throw new SluiceError('INVALID_ARGUMENT', `service options: maxConcurrent must be an integer from 1 to 10000000, got ${maxConcurrent}`);
  }
  const log = (options.logger ?? silentLogger).child({ service: options.service, instance });
  const tracer = options.tracing === false ? undefined : await loadTracer(options.tracing, options.service);
  const responder = createServiceResponder(options.routes, log, tracer ? { tracer, service: options.service, instance } : undefined, { maxConcurrent });
  const link = (url: string, linkEvents: { connected(url: string): void; disconnected(url: string, e: SluiceError | undefined): void }) =>
    new Reconnector(
      () =>
        establish(options.transport ?? nodeTransport, {
          url,
          setupMetadata: [registrationEntry(registration)],
          responder,
          logger: log,
          limits: { maxInboundStreams: DEFAULT_MAX_CONCURRENT, ...options.limits },
          ...(options.keepAlive ? { keepAlive: options.keepAlive } : {}),
          ...(options.tls ? { tls: options.tls } : {}),
          ...(options.token !== undefined ? { token: options.token } : {}),
          ...(options.tokenRefresh ? { tokenRefresh: options.tokenRefresh } : {}),
        }),
      options.reconnect,
      {
        connected: () => linkEvents.connected(url),
        disconnected: (error) => linkEvents.disconnected(url, error),
      },
      log,
      { renewable: typeof options.token === 'function' },
    );
  const links = new GatewayLinks(
    link,
    {
      connected: (url) => {
        log.info({ url }, 'registered with the gateway');
        events.connected?.(url);
      },
      disconnected: (url, error) => {
        log.warn({ url, code: error?.code, reason: error?.message }, 'disconnected from the gateway, reconnecting');
        events.disconnected?.(error, url);
      },
      failed: (url, error) => {
        log.error({ url, code: error.code, reason: error.message }, 'the gateway refused this instance for good');
        events.failed?.(error, url);
      },
    },
    log,
  );
  let discovered: readonly string[] = [];
  links.set(fixed);
  const stopWatching = options.discovery?.watch((urls) => {
    discovered = urls;
    log.info({ gateways: urls }, 'fleet changed');
    links.set([...fixed, ...discovered]);
  });
  try {
    await links.ready;
  } catch (err) {
    stopWatching?.();
    links.close();
    await tracer?.shutdown().catch(() => undefined);
    throw err;
  }
  return {
    service: options.service,
    instance,
    client: new SluiceClient(links),
    tracer,
    get connected() {
      return links.connectedCount > 0;
    },
    get gateways() {
      return links.urls;
    },
    get connectedGateways() {
      return links.connectedCount;
    },
    get inFlight() {
      return responder.inFlight;
    },
    close: () => {
      stopWatching?.();
      links.close();
      // What is queued is exported in the background; a process exiting right after may lose the last batch.
      void tracer?.shutdown().catch((err: unknown) => log.warn({ reason: (err as Error).message }, 'tracing: spans not exported at close'));
    },
  };
}

function fixedUrls(options: ServiceOptions): string[] {
  const urls = options.url === undefined ? [] : typeof options.url === 'string' ? [options.url] : [...options.url];
  if (urls.length === 0 && !options.discovery) throw new SluiceError('INVALID_ARGUMENT', 'service options: give url (one gateway or a list) or discovery');
  if (urls.length > MAX_GATEWAY_LINKS) throw new SluiceError('INVALID_ARGUMENT', `service options: at most ${MAX_GATEWAY_LINKS} gateway URLs, got ${urls.length}`);
  urls.forEach((u, i) => {
    if (typeof u !== 'string' || u.length === 0) throw new SluiceError('INVALID_ARGUMENT', `service options: url[${i}] must be a non-empty string`);
  });
  return urls;
}

function validate(options: ServiceOptions, instance: string): Registration {
  const routes = Object.entries(options.routes ?? {});
  for (const [name, h] of routes) {
    const served = ['requestResponse', 'fireAndForget', 'requestStream', 'requestChannel'].filter((m) => typeof (h as Record<string, unknown>)[m] === 'function');
    if (served.length === 0) throw new SluiceError('INVALID_ARGUMENT', `route '${name}' has no handler (requestResponse, fireAndForget, requestStream or requestChannel)`);
  }
  try {
    return parseRegistration({
      service: options.service,
      instance,
      routes: routes.map(([name, h]) => ({ name, idempotent: h.idempotent === true })),
    });
  } catch (err) {
    throw new SluiceError('INVALID_ARGUMENT', (err as Error).message.replace(/^registration: /, 'service options: '));
  }
}

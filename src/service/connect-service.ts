/**
 * The embedded service API: a process declares its routes, connects to the
 * gateway like any client (registration rides in SETUP metadata), serves
 * requests, and stays connected: on loss it reconnects with backoff and
 * registers again by itself. It can also call other routes through the
 * gateway with `service.client`.
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
import type { RouteTable } from './handlers.js';
import { loadTracer, type Tracer, type TracingOptions } from '../observability/tracing.js';
import { createServiceResponder } from './responder.js';

export interface ServiceOptions {
  /** Gateway URL: `ws://127.0.0.1:7878`, `tcp://127.0.0.1:7880`, or with TLS `wss://...`, `tls://...`. */
  url: string;
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
   * Connection limits. `maxInboundStreams` is this instance's cap on
   * concurrent requests from the gateway (default 65536): beyond it requests
   * are refused with OVERLOADED.
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
  connected(): void;
  disconnected(error: SluiceError | undefined): void;
  failed(error: SluiceError): void;
}

export interface Service {
  readonly service: string;
  readonly instance: string;
  /** Calls other routes through the gateway, over this service's connection. */
  readonly client: SluiceClient;
  /** The tracer making this service's spans; undefined when tracing is off. For spans of the service's own (a saga's steps). */
  readonly tracer: Tracer | undefined;
  readonly connected: boolean;
  /** Stops serving: closes the connection and stops reconnecting. */
  close(): void;
}

/** Connects, registers and resolves once the gateway has accepted the registration. */
export async function connectService(options: ServiceOptions, events: Partial<ServiceStatusEvents> = {}): Promise<Service> {
  const instance = options.instance ?? `${options.service}-${randomUUID().slice(0, 8)}`;
  const registration = validate(options, instance);
  const log = (options.logger ?? silentLogger).child({ service: options.service, instance });
  const tracer = options.tracing === false ? undefined : await loadTracer(options.tracing, options.service);
  const responder = createServiceResponder(options.routes, log, tracer ? { tracer, service: options.service, instance } : undefined);
  const reconnector = new Reconnector(
    () =>
      establish(options.transport ?? nodeTransport, {
        url: options.url,
        setupMetadata: [registrationEntry(registration)],
        responder,
        logger: log,
        limits: { maxInboundStreams: 65_536, ...options.limits },
        ...(options.keepAlive ? { keepAlive: options.keepAlive } : {}),
        ...(options.tls ? { tls: options.tls } : {}),
        ...(options.token !== undefined ? { token: options.token } : {}),
        ...(options.tokenRefresh ? { tokenRefresh: options.tokenRefresh } : {}),
      }),
    options.reconnect,
    {
      connected: () => {
        log.info({ url: options.url }, 'registered with the gateway');
        events.connected?.();
      },
      disconnected: (error) => {
        log.warn({ code: error?.code, reason: error?.message }, 'disconnected from the gateway, reconnecting');
        events.disconnected?.(error);
      },
      failed: (error) => events.failed?.(error),
    },
    log,
    { renewable: typeof options.token === 'function' },
  );
  try {
    await reconnector.start();
  } catch (err) {
    await tracer?.shutdown().catch(() => undefined);
    throw err;
  }
  return {
    service: options.service,
    instance,
    client: new SluiceClient(reconnector),
    tracer,
    get connected() {
      return reconnector.current !== undefined;
    },
    close: () => {
      reconnector.close();
      // What is queued is exported in the background; a process exiting right after may lose the last batch.
      void tracer?.shutdown().catch((err: unknown) => log.warn({ reason: (err as Error).message }, 'tracing: spans not exported at close'));
    },
  };
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

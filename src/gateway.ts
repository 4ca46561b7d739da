/**
 * The gateway's composition root: config -> broker (registry, routing,
 * forwarding, policies, auth; no sockets) -> transport listeners (WebSocket,
 * TCP) -> admin HTTP. Read top to bottom, this is the data flow of the whole
 * product.
 */
import { randomBytes } from 'node:crypto';
import { adminNeedsToken, authEnabled, resolveGatewayConfig, type GatewayConfig, type GatewayOptions } from './config.js';
import { loadTokenVerifier } from './auth/key-files.js';
import { bearerEntry } from './auth/bearer.js';
import { createBroker } from './broker/broker.js';
import { loadTracer } from './observability/tracing.js';
import { WebhookDispatcher } from './webhooks/dispatcher.js';
import { identityOf } from './broker/identity.js';
import { createHttpBridge, type HttpBridge } from './http/bridge.js';
import { TokenCache } from './http/token-cache.js';
import type { Access } from './auth/permissions.js';
import type { Instance, Registry } from './broker/registry.js';
import { isLoopbackHost as isLoopback } from './loopback.js';
import { DeadLetterQueue } from './deadletter/queue.js';
import { openDurableBackend } from './durable/backend.js';
import type { DurableRoutes } from './durable/durable-routes.js';
import type { PolicyRuntime } from './policy/route-runtime.js';
import type { RouteTable } from './service/handlers.js';
import { compilePolicies } from './policy/policy-config.js';
import { startAdminServer, formatHost, type AdminServer } from './admin/server.js';
import { adminTokenCheck } from './admin/admin-auth.js';
import { dashboardRoutes } from './admin/dashboard-routes.js';
import { createLogger, type PinoLogger } from './observability/logger.js';
import type { GatewayMetrics } from './observability/metrics.js';
import { AddressLimiter } from './transport/address-limiter.js';
import { listenTcp, listenWebSocket, type Listener, type ListenerOptions } from './transport/listeners.js';
import { originPolicy, type OriginPolicy } from './transport/origin.js';
import { loadTlsCredentials } from './transport/tls.js';
import type { GatewayEntry } from './fleet/gateway-entry.js';
import { registerInFleet, type FleetRegistration } from './fleet/gateway-registration.js';
import { shareRateLimits, type SharedRateLimits } from './fleet/shared-rate-limits.js';
import type { RateLimitedRoute } from './fleet/rate-share.js';
import { registerFleetRateMetrics } from './observability/fleet-rate-metrics.js';

export interface Gateway {
  /** `ws://host:port` (`wss://` with TLS) clients and services connect to. */
  readonly url: string;
  /** The TCP listener, when enabled (`tcp://host:port`, or `tls://host:port` with TLS). */
  readonly tcp: { host: string; port: number; url: string } | undefined;
  /** `http://host:port` (`https://` with TLS, unless admin.tls is false) of the admin server, when enabled. */
  readonly adminUrl: string | undefined;
  readonly config: Readonly<GatewayConfig>;
  readonly registry: Registry;
  readonly metrics: GatewayMetrics;
  readonly policies: PolicyRuntime;
  /** The dead-letter queue, when some route's policy dead-letters or is durable, or webhooks are enabled (dead deliveries). */
  readonly deadLetters: DeadLetterQueue | undefined;
  /** The webhook dispatcher, when `webhooks.enabled`. */
  readonly webhooks: WebhookDispatcher | undefined;
  /** The durable routes, when some route's policy is durable. */
  readonly durable: DurableRoutes | undefined;
  /** Its entry in the fleet registry, when `nats.servers` is set. */
  readonly fleet: GatewayEntry | undefined;
  /** The rate limits shared with the fleet, when `nats.servers` is set, `fleet.sharedRateLimits` is true and some route has a rate limit. */
  readonly sharedRateLimits: SharedRateLimits | undefined;
  /** Reasons the gateway is not ready; empty when it is. */
  notReadyReasons(): string[];
  /**
   * Reads the auth key files and the TLS certificate again (rotation without
   * a restart; the CLI does it on SIGHUP). New connections and TLS handshakes
   * use them; accepted connections keep their principal. A bad file throws
   * its ConfigError and everything keeps what it had.
   */
  reload(): Promise<void>;
  /** Stops accepting, lets in-flight interactions finish (up to `drainTimeoutMs`), then closes everything. */
  close(): Promise<void>;
}

export interface GatewayDependencies {
  logger?: PinoLogger;
  /** Routes served inside the gateway process, written like a service's routes. */
  localRoutes?: RouteTable;
}

export async function createGateway(options: GatewayOptions = {}, deps: GatewayDependencies = {}): Promise<Gateway> {
  const config = resolveGatewayConfig(options);
  const log = deps.logger ?? createLogger({ level: config.logging.level });
  const tlsCredentials = await loadTlsCredentials(config.tls);
  const verifier = await loadTokenVerifier(config.auth);
  if (!authEnabled(config.auth)) {
    log.warn(
      { host: config.listen.host, allowAnonymous: config.auth.allowAnonymous },
      config.auth.allowAnonymous && !isLoopback(config.listen.host)
        ? `auth is off on a non-loopback address (allowed by auth.allowAnonymous): anyone who can reach ${config.listen.host} may call every route and register as any service`
        : 'auth is off (no auth.secretFile or auth.jwksFile): every connection may call every route and register as any service, which is safe only because the gateway listens on loopback',
    );
  }
  const table = compilePolicies(config.policies);
  // Durable commands that fail their last delivery are dead-lettered, so durable routes need the queue too.
  // Webhook deliveries that die are dead letters too.
  const deadLetters = table.anyDeadLetter || table.anyDurable || config.webhooks.enabled ? await DeadLetterQueue.open(config, log) : undefined;
  const durableBackend = table.anyDurable ? await openDurableBackend(config, log) : undefined;
  const tracer = await loadTracer(
    { ...(config.tracing.endpoint !== null ? { endpoint: config.tracing.endpoint } : {}), ...(config.tracing.serviceName !== null ? { serviceName: config.tracing.serviceName } : {}), maxQueueSize: config.tracing.maxQueueSize },
    'sluice-gateway',
  );
  const webhooks = config.webhooks.enabled ? await WebhookDispatcher.open(config.webhooks, log.child({ component: 'webhooks' })) : undefined;
  const broker = createBroker(config, { log, verifier, deadLetters, durableBackend, tracer, webhooks, ...(deps.localRoutes ? { localRoutes: deps.localRoutes } : {}) });
  const { registry, metrics, policies, refusals, auth, memory, forwarder, durable } = broker;
  // Routes holding commands from before a restart start delivering without waiting for a new command.
  await durable?.start(table.configuredRoutes);

  const perAddress = new AddressLimiter(config.limits.maxConnectionsPerAddress);
  // The admin server's origin joins the allowlist once it listens (its port may be picked then).
  let origins: OriginPolicy = originPolicy(config.listen.allowedOrigins, undefined);
  /** Why a new connection from `remote` is refused at the transport, if it is. */
  const transportRefusal = (remote: string | undefined): 'max_connections' | 'per_address' | undefined => {
    if (broker.connections.size >= config.limits.maxConnections) {
      refusals.refuse('max_connections', { remote, max: config.limits.maxConnections }, 'connection refused: the gateway holds limits.maxConnections');
      return 'max_connections';
    }
    if (perAddress.over(remote)) {
      refusals.refuse('per_address', { remote, open: perAddress.count(remote), max: config.limits.maxConnectionsPerAddress }, 'connection refused: its address holds limits.maxConnectionsPerAddress');
      return 'per_address';
    }
    return undefined;
  };
  const listenerOptions = (port: number): ListenerOptions => ({
    host: config.listen.host,
    port,
    maxFrameSize: config.limits.maxFrameSize,
    handshakeTimeoutMs: config.limits.setupTimeoutMs,
    tls: tlsCredentials,
    perAddress,
    refusal: transportRefusal,
    log,
    serve: (transport) => void broker.accept(transport),
  });

  // ---- the HTTP bridge: plain HTTP requests on the WebSocket port, through the same auth and forwarder
  // Tokens it verified are remembered (auth on only: in open mode nothing is verified), and forgotten when the keys are reloaded.
  const httpTokens = verifier && config.http.tokenCacheEntries > 0 ? new TokenCache<Access>({ maxEntries: config.http.tokenCacheEntries, maxAgeMs: config.http.tokenCacheMaxAgeMs }) : undefined;
  const bridge: HttpBridge | undefined = config.http.enabled
    ? createHttpBridge(
        {
          forwarder,
          authenticate: (token, remote) => auth.authenticateToken(token, remote, () => identityOf(token === undefined ? [] : [bearerEntry(token)], remote)),
          identityOf: (principal, token, remote) => (auth.enabled ? principal.id : identityOf(token === undefined ? [] : [bearerEntry(token)], remote)),
          cachePolicy: (route) => policies.table.for(route).cache,
          resumable: (route) => policies.table.for(route).resumable,
          tokens: httpTokens,
          memory,
          log: log.child({ component: 'http' }),
          metrics: metrics.registry,
        },
        {
          maxPayloadSize: config.limits.maxPayloadSize,
          maxConcurrent: config.http.maxConcurrent,
          maxConcurrentPerAddress: config.http.maxConcurrentPerAddress,
          sseWindow: config.http.sseWindow,
          sseHeartbeatMs: config.http.sseHeartbeatMs,
          clockSkewMs: config.auth.clockSkewMs,
        },
      )
    : undefined;

  // ---- RSocket over WebSocket (wss:// with TLS), and the HTTP bridge on the same port
  const ws = await listenWebSocket(
    listenerOptions(config.listen.port),
    () => origins,
    (remote, origin) => refusals.refuse('origin', { remote, origin }, "browser WebSocket refused: its page's origin is not in listen.allowedOrigins"),
    bridge ? (req, res) => bridge.handle(req, res) : undefined,
  );
  // ---- RSocket over TCP (TLS when configured)
  let tcpListener: Listener | undefined;
  let tcp: Gateway['tcp'];
  if (config.listen.tcpPort !== null) {
    tcpListener = await listenTcp(listenerOptions(config.listen.tcpPort));
    const port = tcpListener.port;
    tcp = { host: config.listen.host, port, url: `${tlsCredentials ? 'tls' : 'tcp'}://${formatHost(config.listen.host)}:${port}` };
  }

  let draining = false;
  const notReadyReasons = (): string[] => {
    const reasons: string[] = [];
    if (draining) reasons.push('draining');
    for (const r of config.readiness.routes) if (!registry.has(r)) reasons.push(`no instance for route ${r}`);
    return reasons;
  };

  const url = `${tlsCredentials ? 'wss' : 'ws'}://${formatHost(config.listen.host)}:${ws.port}`;

  // ---- admin HTTP (health, readiness, metrics, and the dashboard at /)
  let admin: AdminServer | undefined;
  if (config.admin.enabled) {
    admin = await startAdminServer(
      config.admin.host,
      config.admin.port,
      {
        notReadyReasons,
        metrics: async () => ({ contentType: metrics.contentType, body: await metrics.text() }),
        extra: dashboardRoutes({ gatewayUrl: url, log: log.child({ component: 'dashboard' }) }),
        ...(verifier && adminNeedsToken(config) ? { authorize: adminTokenCheck(verifier) } : {}),
      },
      config.admin.tls ? tlsCredentials : undefined,
    );
  }
  origins = originPolicy(config.listen.allowedOrigins, admin?.url);

  log.info({ url, tcp: tcp?.url, admin: admin?.url, allowedOrigins: origins.allowed }, 'gateway listening');

  const reload = async (): Promise<void> => {
    // Read and check everything first, so that a bad file changes nothing.
    const credentials = tlsCredentials ? await loadTlsCredentials(config.tls) : undefined;
    await verifier?.reload();
    httpTokens?.clear();
    if (credentials) {
      ws.setTlsCredentials(credentials);
      tcpListener?.setTlsCredentials(credentials);
      if (config.admin.tls) admin?.setTlsCredentials(credentials);
    }
    log.info({ keys: verifier !== undefined, tls: credentials !== undefined }, 'reloaded auth keys and TLS certificate');
  };

  // ---- the fleet: announced in NATS KV once it listens, so services connect only to a gateway that can serve them
  let fleetEntry: GatewayEntry | undefined;
  let fleetRegistration: FleetRegistration | undefined;
  let sharedRates: SharedRateLimits | undefined;

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> =>
    (closing ??= (async () => {
      // Leaving the fleet first: services stop sending new work here while in-flight work drains.
      await fleetRegistration?.stop();
      await sharedRates?.stop();
      draining = true;
      broker.drain();
      log.info({ inFlight: broker.live.size }, 'draining');
      ws.stop();
      tcpListener?.stop();
      await waitUntil(() => broker.live.size === 0, config.drainTimeoutMs);
      if (broker.live.size > 0) log.warn({ inFlight: broker.live.size }, 'drain timeout: closing with interactions in flight');
      await broker.close();
      ws.destroyAll();
      await admin?.close();
      await durable?.close();
      await deadLetters?.close();
      await webhooks?.close();
      await tracer?.shutdown().catch((err: unknown) => log.warn({ reason: (err as Error).message }, 'tracing: spans not exported at shutdown'));
      log.info('gateway closed');
    })());

  if (config.nats.servers.length > 0) {
    fleetEntry = {
      id: config.fleet.id ?? `gw-${randomBytes(6).toString('hex')}`,
      urls: config.fleet.advertise.length > 0 ? [...config.fleet.advertise] : [url, ...(tcp ? [tcp.url] : [])],
      ttlMs: config.fleet.ttlMs,
    };
    if (config.fleet.advertise.length === 0 && isWildcard(config.listen.host)) {
      log.warn({ host: config.listen.host }, 'fleet: listening on every interface without fleet.advertise: services elsewhere cannot reach the advertised address; set --advertise');
    }
    try {
      const credentials = { credentialsFile: config.nats.credentialsFile, tokenFile: config.nats.tokenFile };
      fleetRegistration = await registerInFleet({ servers: config.nats.servers, credentials, bucket: config.fleet.bucket, replicas: config.nats.replicas, entry: fleetEntry, log: log.child({ component: 'fleet' }) });
      // A second NATS connection only when there is a limit to share.
      if (config.fleet.sharedRateLimits && table.anyRateLimit) {
        sharedRates = await shareRateLimits({
          servers: config.nats.servers,
          credentials,
          gatewayId: fleetEntry.id,
          bucket: config.fleet.bucket,
          intervalMs: config.fleet.rateIntervalMs,
          maxKeys: config.fleet.rateMaxKeys,
          maxRemoteKeys: config.fleet.rateMaxRemoteKeys,
          minShare: config.fleet.rateMinShare,
          routes: () => rateLimitedRoutes(policies),
          log: log.child({ component: 'fleet-rates' }),
        });
        registerFleetRateMetrics(metrics.registry, sharedRates);
      }
    } catch (err) {
      await close();
      throw err;
    }
  }

  return {
    url,
    tcp,
    adminUrl: admin?.url,
    config,
    registry,
    metrics,
    policies,
    deadLetters,
    webhooks,
    durable,
    fleet: fleetEntry,
    sharedRateLimits: sharedRates,
    notReadyReasons,
    reload,
    close,
  };
}

/** The routes whose policy has a rate limit and whose runtime exists (a route no one has called holds no bucket). */
function* rateLimitedRoutes(policies: PolicyRuntime): Iterable<RateLimitedRoute> {
  for (const rt of policies.all()) if (rt.limiter && rt.policy.rateLimit) yield { route: rt.route, ratePerSec: rt.policy.rateLimit.ratePerSec, limiter: rt.limiter };
}

function isWildcard(host: string): boolean {
  return host === '0.0.0.0' || host === '::' || host === '[::]';
}

/** Resolves when `done()` holds or after `timeoutMs`, checking every 20 ms (shutdown path only). */
function waitUntil(done: () => boolean, timeoutMs: number): Promise<void> {
  return new Promise((resolve) => {
    const deadline = Date.now() + timeoutMs;
    const check = () => (done() || Date.now() >= deadline ? resolve() : setTimeout(check, 20));
    check();
  });
}

export type { Instance };

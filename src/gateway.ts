/**
 * The gateway's composition root: config -> transports -> connections ->
 * registry and forwarder -> admin HTTP. Read top to bottom, this is the data
 * flow of the whole product.
 */
import { createServer as createHttpServer, type IncomingMessage, type Server as HttpServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { createServer as createTcpServer, type AddressInfo, type Server as TcpServer, type Socket } from 'node:net';
import { createServer as createTlsServer, type Server as TlsServer } from 'node:tls';
import { randomBytes } from 'node:crypto';
import type { Duplex } from 'node:stream';
import { WebSocketServer } from 'ws';
import { adminNeedsToken, authEnabled, reservedForServices, resolveGatewayConfig, type GatewayConfig, type GatewayOptions } from './config.js';
import { Authenticator } from './auth/authenticator.js';
import { bearerEntry } from './auth/bearer.js';
import type { Principal } from './auth/grant.js';
import { loadTokenVerifier } from './auth/key-files.js';
import { registrationRefusal } from './auth/permissions.js';
import { SluiceError } from './errors.js';
import { Forwarder, type LocalRoute } from './broker/forwarder.js';
import { ConnectionShares } from './broker/connection-shares.js';
import { identityOf } from './broker/identity.js';
import { isLoopbackHost as isLoopback } from './loopback.js';
import { Registry, type Instance } from './broker/registry.js';
import { STATS_ROUTE, statsRoute } from './broker/stats-route.js';
import { compilePolicies } from './policy/policy-config.js';
import { DeadLetterQueue } from './deadletter/queue.js';
import { deadLetterRoutes } from './deadletter/routes.js';
import { PolicyRuntime } from './policy/route-runtime.js';
import { registerPolicyMetrics } from './observability/policy-metrics.js';
import { registerCacheMetrics } from './observability/cache-metrics.js';
import { ResponseCaches } from './policy/response-cache.js';
import { createHttpBridge, type HttpBridge } from './http/bridge.js';
import { createServiceResponder } from './service/responder.js';
import type { RouteTable } from './service/handlers.js';
import { establish } from '../clients/core/connector.js';
import { nodeTransport } from '../clients/node/transport.js';
import { startAdminServer, formatHost, type AdminServer } from './admin/server.js';
import { adminTokenCheck } from './admin/admin-auth.js';
import { dashboardRoutes } from './admin/dashboard-routes.js';
import { createLogger, type PinoLogger } from './observability/logger.js';
import { GatewayMetrics } from './observability/metrics.js';
import { ConnectionRefusals } from './observability/connection-refusals.js';
import { MetadataError, MimeTypes, decodeComposite, type MetadataEntry } from './protocol/metadata.js';
import { readRegistration, type Registration } from './protocol/registration.js';
import type { SetupFrame } from './protocol/frames.js';
import { Connection, type Responder } from './rsocket/connection.js';
import { MEMORY_KINDS, MemoryBudget } from './rsocket/memory-budget.js';
import { RateLimitedLog } from './observability/rate-limited-log.js';
import type { FrameTransport } from './rsocket/transport.js';
import { TcpTransport } from './transport/tcp-transport.js';
import { WebSocketTransport } from './transport/websocket-transport.js';
import { AddressLimiter } from './transport/address-limiter.js';
import { originPolicy, type OriginPolicy } from './transport/origin.js';
import { loadTlsCredentials } from './transport/tls.js';

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
  /** The dead-letter queue, when some route's policy dead-letters. */
  readonly deadLetters: DeadLetterQueue | undefined;
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
  const connections = new Set<Connection>();
  let url = '';
  const services = new Set<Connection>();

  const policies = new PolicyRuntime(compilePolicies(config.policies));
  const registry = new Registry({
    registered: (i) => log.info({ service: i.service, instance: i.id, conn: i.connection.id, routes: [...i.routes.keys()] }, 'instance registered'),
    unregistered: (i) => {
      policies.forgetInstance(i);
      policies.prune((route) => registry.has(route));
      log.info({ service: i.service, instance: i.id, conn: i.connection.id }, 'instance removed');
    },
  });
  // Warnings a peer can repeat at will are logged once per peer and interval, with a count.
  const warnings = new RateLimitedLog(log);
  const memory = new MemoryBudget(config.limits.memoryBudgetBytes, {
    onShed: (kind, bytes) => {
      metrics.shed(kind);
      warnings.warn(`memory-shed|${kind}`, { kind, bytes, usedBytes: memory.used, limitBytes: memory.limitBytes }, 'memory budget reached: shed the largest holder');
    },
  });
  const deadLetters = policies.table.anyDeadLetter ? await DeadLetterQueue.open(config.deadLetter, log) : undefined;
  const metrics: GatewayMetrics = new GatewayMetrics({
    connections: () => ({ client: connections.size - services.size, service: services.size }),
    instances: () => countBy(registry.instances(), (i) => i.service),
    streams: (): Iterable<{ route: string; model: string; consumerDemand: number; producerDemand: number }> =>
      [...forwarder.live].map((s) => {
        const d = s.demand();
        return { route: s.route, model: s.model, consumerDemand: d.consumer, producerDemand: d.producer };
      }),
    bufferedBytes: () => [...connections].reduce((n, c) => n + c.bufferedBytes, 0),
    prefetchHeldBytes: () => forwarder.prefetchBudget.held,
    memory: () => ({ limitBytes: memory.limitBytes, used: MEMORY_KINDS.map((k) => [k, memory.usedBy(k)] as const) }),
  });
  registerPolicyMetrics(metrics.registry, policies, () => deadLetters, () => forwarder.deadLetters.counts());
  const caches = new ResponseCaches(config.limits.maxRoutes);
  registerCacheMetrics(metrics.registry, caches);
  const refusals = new ConnectionRefusals(metrics.registry, log);
  const shares = new ConnectionShares(
    {
      maxConnections: config.limits.maxConnections,
      reservedForServices: reservedForServices(config.limits),
      idleTimeoutMs: config.limits.idleTimeoutMs,
      maxClientLifetimeMs: config.keepAlive.maxClientLifetimeMs,
    },
    (d) => refusals.refuse('client_share', d, 'client refused at SETUP: client connections hold their whole share'),
  );
  const perAddress = new AddressLimiter(config.limits.maxConnectionsPerAddress);
  // The admin server's origin joins the allowlist once it listens (its port may be picked then).
  let origins: OriginPolicy = originPolicy(config.listen.allowedOrigins, undefined);

  // Replays of dead letters enter through the front door, like any request, as the internal principal.
  const internalToken = randomBytes(32).toString('base64url');
  let loopback: Promise<Connection> | undefined;
  const loopbackConnection = (): Promise<Connection> => {
    const open = (loopback ??= establish(nodeTransport, {
      url,
      logger: log,
      setupMetadata: [bearerEntry(internalToken)],
      ...(tlsCredentials ? { tls: { ca: tlsCredentials.cert } } : {}),
    }));
    return open.then((c) => (c.isOpen ? c : ((loopback = undefined), loopbackConnection())));
  };
  const dlqRoutes = deadLetters ? deadLetterRoutes(deadLetters, loopbackConnection, log) : undefined;
  const localTable: RouteTable = { ...deps.localRoutes, ...dlqRoutes };
  const localResponder = createServiceResponder(localTable, log.child({ local: true }));
  // sluice.stats needs the gateway's internals, so it is built here and served like any local route.
  const stats = statsRoute({
    counters: () => metrics.route(STATS_ROUTE),
    log: log.child({ route: STATS_ROUTE }),
    source: {
      routes: () => [...registry.routes(), ...local.keys()],
      live: () => forwarder.live,
      localInFlight: () => new Map([[STATS_ROUTE, stats.subscribers]]),
      counters: () => metrics.routeCounters(),
      errorsOf: (route) => metrics.errorsOf(route),
      routesWithErrors: () => metrics.routesWithErrors(),
      instances: () => registry.instances(),
      connections: () => ({ client: connections.size - services.size, service: services.size }),
      breaker: (route) => policies.breakerState(route),
    },
  });
  const local = new Map<string, LocalRoute>([[STATS_ROUTE, stats], ...Object.keys(localTable).map((r): [string, LocalRoute] => [r, localResponder])]);
  /** The registration each service connection holds, for checks on token refresh. */
  const registrations = new WeakMap<Connection, Registration>();
  const auth = new Authenticator({
    verifier,
    anonymous: config.auth.anonymous,
    clockSkewMs: config.auth.clockSkewMs,
    internalToken,
    log,
    openIdentity: (entries, conn) => identityOf(entries, conn.remoteAddress),
    refreshRefusal: (conn, principal) => {
      const registration = registrations.get(conn);
      return registration ? registrationRefusal(principal, registration) : undefined;
    },
  });
  const forwarder: Forwarder = new Forwarder(
    {
      registry,
      metrics,
      policies,
      log,
      local,
      ...(deadLetters ? { deadLetter: deadLetters.sink } : {}),
      identityOf: (conn) => auth.accessOf(conn)?.principal.id ?? identityOf([], conn.remoteAddress),
      accessOf: (conn) => auth.accessOf(conn),
      adminRoutes: new Set(Object.keys(dlqRoutes ?? {})),
      caches,
    },
    {
      window: config.flow.window,
      windowBytes: config.flow.windowBytes,
      prefetch: config.flow.prefetch,
      prefetchBudgetBytes: config.flow.prefetchBudgetBytes,
      maxPayloadSize: config.limits.maxPayloadSize,
      memory,
      warnings,
    },
  );

  const responderFor = (conn: Connection): Responder => ({
    ...forwarder.responderFor(conn),
    metadataPush: (metadata) => auth.metadataPush(conn, metadata),
  });

  /** Registrations deciding on a live holder of their instance id (probing it): one probe at a time per id; others wait for it, then decide. */
  const probing = new Map<string, Promise<unknown>>();
  const ownerOf = (principal: Principal) => (auth.enabled ? principal.id : 'open');

  const accept = (setup: SetupFrame, conn: Connection): Responder | Promise<Responder> => {
    checkMimeTypes(setup);
    const entries = setupEntries(setup);
    const registration = readRegistration(setup.metadata);
    const principal = auth.authenticate(entries, conn);
    if (principal instanceof Promise) return principal.then((p) => admit(p, registration, conn));
    return admit(principal, registration, conn);
  };

  /** The rest of SETUP, once the principal is known: registration rules, then the responder. */
  const admit = (principal: Principal, registration: Registration | undefined, conn: Connection): Responder | Promise<Responder> => {
    if (!registration) {
      shares.admit(conn, false);
      return attach(principal, conn);
    }
    if (auth.enabled) {
      const refusal = registrationRefusal(principal, registration);
      if (refusal) throw new SluiceError('REJECTED_SETUP', refusal);
    }
    // Only a registration the grant allows may use the slots kept for services.
    shares.admit(conn, true);
    const key = `${registration.service}/${registration.instance}`;
    const pending = probing.get(key);
    if (pending) return pending.then(() => admit(principal, registration, conn));
    const holder = registry.get(registration.service, registration.instance);
    if (!holder || !holder.connection.isOpen) return register(principal, registration, conn);
    if (holder.owner !== ownerOf(principal)) throw new SluiceError('REJECTED_SETUP', `instance id ${key} is held by another principal`);
    // The same principal again: a restarted process whose old socket is half-open takes over, a second live process does not.
    const probed = probe(holder.connection, config.auth.probeTimeoutMs);
    probing.set(key, probed);
    return probed
      .finally(() => probing.delete(key))
      .then((answered) => {
        if (answered) {
          throw new SluiceError('REJECTED_SETUP', `instance id ${key} is live on another connection (it answered a ping within ${config.auth.probeTimeoutMs} ms); stop it or use another instance id`);
        }
        conn.log.info({ instance: key, old: holder.connection.id }, 'instance id taken over from a connection that did not answer a ping');
        return register(principal, registration, conn);
      });
  };

  const register = (principal: Principal, registration: Registration, conn: Connection): Responder => {
    if (!conn.isOpen) return attach(principal, conn); // closed while deciding: nothing to register
    const added = registration.routes.filter((r) => !registry.has(r.name)).length;
    if (registry.routes().length + added > config.limits.maxRoutes) {
      throw new SluiceError('REJECTED_SETUP', `registration: the gateway serves ${registry.routes().length} routes and takes at most ${config.limits.maxRoutes}`);
    }
    const { instance, replaced } = registry.register(registration.service, registration.instance, registration.routes, conn, ownerOf(principal));
    replaced?.connection.close(new SluiceError('CONNECTION_CLOSED', `replaced by a newer registration of ${registration.service}/${registration.instance}`));
    services.add(conn);
    registrations.set(conn, registration);
    conn.onClose(() => {
      services.delete(conn);
      registry.unregister(instance);
    });
    return attach(principal, conn);
  };

  const attach = (principal: Principal, conn: Connection): Responder => {
    auth.attach(conn, principal);
    conn.log.debug({ principal: principal.id }, 'connection accepted');
    return responderFor(conn);
  };

  const limits = {
    maxInboundStreams: config.limits.maxStreamsPerConnection,
    maxOutboundStreams: config.limits.maxStreamsPerInstance,
    maxPayloadSize: config.limits.maxPayloadSize,
    outboundHighWater: config.limits.outboundHighWater,
    outboundHardLimit: config.limits.outboundHardLimit,
    slowConsumerTimeoutMs: config.limits.slowConsumerTimeoutMs,
    fragmentTimeoutMs: config.limits.fragmentTimeoutMs,
  };
  const serve = (transport: FrameTransport): void => {
    const conn = Connection.accept(
      transport,
      {
        accept,
        setupTimeoutMs: config.limits.setupTimeoutMs,
        minLifetimeMs: config.keepAlive.minLifetimeMs,
        maxLifetimeMs: config.keepAlive.maxLifetimeMs,
      },
      { logger: log, limits, memory, warnings },
    );
    connections.add(conn);
    conn.log.debug({ remote: transport.remoteAddress }, 'connection opened');
    conn.onClose((error) => {
      connections.delete(conn);
      conn.log.debug({ code: error?.code }, 'connection closed');
    });
  };
  const atCapacity = () => connections.size >= config.limits.maxConnections;
  /** Why a new connection from `remote` is refused at the transport, if it is. */
  const transportRefusal = (remote: string | undefined): 'max_connections' | 'per_address' | undefined => {
    if (atCapacity()) {
      refusals.refuse('max_connections', { remote, max: config.limits.maxConnections }, 'connection refused: the gateway holds limits.maxConnections');
      return 'max_connections';
    }
    if (perAddress.over(remote)) {
      refusals.refuse('per_address', { remote, open: perAddress.count(remote), max: config.limits.maxConnectionsPerAddress }, 'connection refused: its address holds limits.maxConnectionsPerAddress');
      return 'per_address';
    }
    return undefined;
  };

  // ---- the HTTP bridge: plain HTTP requests on the WebSocket port, through the same auth and forwarder
  const bridge: HttpBridge | undefined = config.http.enabled
    ? createHttpBridge(
        {
          forwarder,
          authenticate: (token, remote) => auth.authenticateToken(token, remote, () => identityOf(token === undefined ? [] : [bearerEntry(token)], remote)),
          identityOf: (principal, token, remote) => (auth.enabled ? principal.id : identityOf(token === undefined ? [] : [bearerEntry(token)], remote)),
          cachePolicy: (route) => policies.table.for(route).cache,
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

  // ---- RSocket over WebSocket (wss:// with TLS)
  const wss = new WebSocketServer({ noServer: true, maxPayload: config.limits.maxFrameSize, perMessageDeflate: false, clientTracking: false });
  const upgradeRequired = (req: IncomingMessage, res: import('node:http').ServerResponse): void => {
    if (bridge?.handle(req, res)) return;
    res.writeHead(426, { 'content-type': 'text/plain', upgrade: 'websocket' }).end('RSocket over WebSocket: upgrade required\n');
  };
  // Sockets that never finish the handshake or the upgrade request free their slot as a silent SETUP would.
  const handshakeLimits = { headersTimeout: config.limits.setupTimeoutMs, requestTimeout: config.limits.setupTimeoutMs, connectionsCheckingInterval: Math.min(1_000, config.limits.setupTimeoutMs) };
  const http: HttpServer = tlsCredentials
    ? (createHttpsServer({ ...tlsCredentials, ...handshakeLimits, handshakeTimeout: config.limits.setupTimeoutMs }, upgradeRequired) as unknown as HttpServer)
    : createHttpServer(handshakeLimits, upgradeRequired);
  http.on('connection', (socket: Socket) => perAddress.track(socket));
  http.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const refuse = (status: number, text: string): void => {
      socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
    };
    if (transportRefusal(req.socket.remoteAddress)) return refuse(503, 'Service Unavailable');
    const origin = req.headers.origin;
    if (!origins.allows(origin)) {
      refusals.refuse('origin', { remote: req.socket.remoteAddress, origin }, 'browser WebSocket refused: its page\'s origin is not in listen.allowedOrigins');
      return refuse(403, 'Forbidden');
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      serve(new WebSocketTransport(ws, socket, `${req.socket.remoteAddress}:${req.socket.remotePort}`));
    });
  });
  http.on('clientError', (err, socket) => {
    log.debug({ err: err.message }, 'bad HTTP on the WebSocket port');
    socket.destroy();
  });
  http.on('tlsClientError', (err: Error) => log.debug({ err: err.message }, 'TLS handshake failed on the WebSocket port'));
  await listen(http, config.listen.port, config.listen.host);
  const wsPort = (http.address() as AddressInfo).port;

  // ---- RSocket over TCP (TLS when configured)
  let tcpServer: TcpServer | undefined;
  let tcp: Gateway['tcp'];
  if (config.listen.tcpPort !== null) {
    const onSocket = (socket: Socket) => {
      socket.on('error', () => {});
      serve(new TcpTransport(socket, config.limits.maxFrameSize));
    };
    tcpServer = tlsCredentials
      ? createTlsServer({ ...tlsCredentials, handshakeTimeout: config.limits.setupTimeoutMs }, onSocket).on('tlsClientError', (err: Error) => log.debug({ err: err.message }, 'TLS handshake failed on the TCP port'))
      : createTcpServer();
    // Counted and judged before the TLS handshake: a refused socket costs no handshake.
    tcpServer.on('connection', (socket: Socket) => {
      perAddress.track(socket);
      if (transportRefusal(socket.remoteAddress)) socket.destroy();
      else if (!tlsCredentials) onSocket(socket);
    });
    await listen(tcpServer, config.listen.tcpPort, config.listen.host);
    const port = (tcpServer.address() as AddressInfo).port;
    tcp = { host: config.listen.host, port, url: `${tlsCredentials ? 'tls' : 'tcp'}://${formatHost(config.listen.host)}:${port}` };
  }

  let draining = false;
  const notReadyReasons = (): string[] => {
    const reasons: string[] = [];
    if (draining) reasons.push('draining');
    for (const r of config.readiness.routes) if (!registry.has(r)) reasons.push(`no instance for route ${r}`);
    return reasons;
  };

  url = `${tlsCredentials ? 'wss' : 'ws'}://${formatHost(config.listen.host)}:${wsPort}`;

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
    if (credentials) {
      (http as unknown as TlsServer).setSecureContext(credentials);
      (tcpServer as TlsServer | undefined)?.setSecureContext(credentials);
      if (config.admin.tls) admin?.setTlsCredentials(credentials);
    }
    log.info({ keys: verifier !== undefined, tls: credentials !== undefined }, 'reloaded auth keys and TLS certificate');
  };

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> =>
    (closing ??= (async () => {
      draining = true;
      forwarder.drain();
      log.info({ inFlight: forwarder.live.size }, 'draining');
      http.close();
      tcpServer?.close();
      await waitUntil(() => forwarder.live.size === 0, config.drainTimeoutMs);
      if (forwarder.live.size > 0) log.warn({ inFlight: forwarder.live.size }, 'drain timeout: closing with interactions in flight');
      (await loopback?.catch(() => undefined))?.close();
      for (const c of [...connections]) c.close(new SluiceError('CONNECTION_CLOSED', 'gateway shutting down'));
      http.closeAllConnections();
      await admin?.close();
      await deadLetters?.close();
      warnings.flush();
      log.info('gateway closed');
    })());

  return {
    url,
    tcp,
    adminUrl: admin?.url,
    config,
    registry,
    metrics,
    policies,
    deadLetters,
    notReadyReasons,
    reload,
    close,
  };
}

/** SETUP metadata's composite entries. Throws INVALID_SETUP when malformed. */
function setupEntries(setup: SetupFrame): MetadataEntry[] {
  if (!setup.metadata || setup.metadata.length === 0) return [];
  try {
    return decodeComposite(setup.metadata);
  } catch (err) {
    if (err instanceof MetadataError) throw new SluiceError('INVALID_SETUP', `setup metadata: ${err.message}`);
    throw err;
  }
}

/** Resolves true when `conn` answers a KEEPALIVE within `timeoutMs`, false when it does not (or is closed). */
function probe(conn: Connection, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), timeoutMs);
    conn.ping().then(
      () => resolve(true),
      () => resolve(false),
    ).finally(() => clearTimeout(timer));
  });
}

function checkMimeTypes(setup: SetupFrame): void {
  if (setup.metadataMimeType !== MimeTypes.COMPOSITE) {
    throw new SluiceError('UNSUPPORTED_SETUP', `metadata MIME type must be ${MimeTypes.COMPOSITE}, got '${setup.metadataMimeType}'`);
  }
  if (setup.dataMimeType !== MimeTypes.JSON) {
    throw new SluiceError('UNSUPPORTED_SETUP', `data MIME type must be ${MimeTypes.JSON}, got '${setup.dataMimeType}'`);
  }
}

function listen(server: HttpServer | TcpServer, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

/** Resolves when `done()` holds or after `timeoutMs`, checking every 20 ms (shutdown path only). */
function waitUntil(done: () => boolean, timeoutMs: number): Promise<void> {
  return new Promise((resolve) => {
    const deadline = Date.now() + timeoutMs;
    const check = () => (done() || Date.now() >= deadline ? resolve() : setTimeout(check, 20));
    check();
  });
}

function countBy<T>(items: T[], key: (t: T) => string): Map<string, number> {
  const m = new Map<string, number>();
  for (const i of items) m.set(key(i), (m.get(key(i)) ?? 0) + 1);
  return m;
}

export type { Instance };

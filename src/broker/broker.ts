/**
 * The broker: everything the gateway does with a connection once a carrier
 * has delivered it, and nothing about sockets. SETUP checks (MIME types,
 * identity, grant, registration rules: route cap, instance replacement),
 * the registry, routing and forwarding with the route policies, the gateway's
 * own routes (`sluice.stats`, `dlq.*`), metrics and the shared limits
 * (memory budget, connection shares). The gateway (src/gateway.ts) puts the
 * transport listeners and the admin server around it; tests give it
 * in-memory transports, so they run this same code.
 */
import { randomBytes } from 'node:crypto';
import { reservedForServices, type GatewayConfig } from '../config.js';
import { Authenticator } from '../auth/authenticator.js';
import { bearerEntry } from '../auth/bearer.js';
import type { Principal } from '../auth/grant.js';
import { registrationRefusal } from '../auth/permissions.js';
import type { TokenVerifier } from '../auth/verifier.js';
import { SluiceError } from '../errors.js';
import { MetadataError, MimeTypes, decodeComposite, encodeComposite, type MetadataEntry } from '../protocol/metadata.js';
import { readRegistration, type Registration } from '../protocol/registration.js';
import type { SetupFrame } from '../protocol/frames.js';
import { Connection, refusingResponder, type Responder } from '../rsocket/connection.js';
import { ServerConnection } from '../rsocket/server-connection.js';
import { inProcessPair } from '../rsocket/in-process-transport.js';
import { MEMORY_KINDS, MemoryBudget } from '../rsocket/memory-budget.js';
import type { FrameTransport } from '../rsocket/transport.js';
import type { Clock } from '../resilience/clock.js';
import { compilePolicies } from '../policy/policy-config.js';
import { PolicyRuntime } from '../policy/route-runtime.js';
import type { Logger } from '../observability/log.js';
import { GatewayMetrics } from '../observability/metrics.js';
import { registerPolicyMetrics } from '../observability/policy-metrics.js';
import { registerCacheMetrics } from '../observability/cache-metrics.js';
import { ResponseCaches } from '../policy/response-cache.js';
import { ConnectionRefusals } from '../observability/connection-refusals.js';
import { RateLimitedLog } from '../observability/rate-limited-log.js';
import { createServiceResponder } from '../service/responder.js';
import type { RouteTable } from '../service/handlers.js';
import type { DeadLetterQueue } from '../deadletter/queue.js';
import { deadLetterRoutes } from '../deadletter/routes.js';
import type { DeadLetterSink } from '../deadletter/rules.js';
import type { DurableBackend } from '../durable/queue.js';
import { DurableRoutes } from '../durable/durable-routes.js';
import { registerDurableMetrics } from '../observability/durable-metrics.js';
import { ConnectionShares } from './connection-shares.js';
import { Forwarder, type Interaction, type LocalRoute } from './forwarder.js';
import { identityOf } from './identity.js';
import { Registry } from './registry.js';
import { STATS_ROUTE, statsRoute } from './stats-route.js';
import { streamTotals } from './stream-totals.js';
import { isMimeType } from '../protocol/stream-mime.js';
import type { Tracer } from '../observability/tracing.js';
import { registerWebhookMetrics } from '../observability/webhook-metrics.js';
import type { WebhookDispatcher } from '../webhooks/dispatcher.js';
import { webhookRoutes } from '../webhooks/webhook-routes.js';
import { WEBHOOK_DEAD_LETTER_ROUTE, deadDeliveryLetter, deadDeliveryReplay } from '../webhooks/dead-deliveries.js';

export interface BrokerDependencies {
  log: Logger;
  /** Verifies bearer tokens; undefined: open mode (every connection may do everything). */
  verifier?: TokenVerifier | undefined;
  /** Routes served inside the gateway process, written like a service's routes. */
  localRoutes?: RouteTable;
  /** The dead-letter queue (its sink, `dlq.*` routes and metrics), when some route's policy dead-letters. */
  deadLetters?: DeadLetterQueue | undefined;
  /** Where dead letters go instead of the queue's sink (tests, other stores). */
  deadLetterSink?: DeadLetterSink;
  /** Where durable routes keep their commands, when some route's policy is durable (the gateway opens it). */
  durableBackend?: DurableBackend | undefined;
  /** Time source of breakers, retry budgets and rate limits. Default: the system clock. */
  clock?: Clock;
  /** Whether the metrics include Node's default process metrics. Default true. */
  defaultMetrics?: boolean;
  /** A span per forwarded interaction (tracing on); undefined creates none. */
  tracer?: Tracer | undefined;
  /** The webhook dispatcher behind the `webhooks.*` routes, when webhooks are on. */
  webhooks?: WebhookDispatcher | undefined;
}

export interface Broker {
  readonly config: Readonly<GatewayConfig>;
  readonly registry: Registry;
  readonly metrics: GatewayMetrics;
  readonly policies: PolicyRuntime;
  readonly forwarder: Forwarder;
  /** Connections accepted and not closed (clients, services, the loopback). */
  readonly connections: ReadonlySet<Connection>;
  /** Interactions in flight. */
  readonly live: ReadonlySet<Interaction>;
  /** Connection refusals (counted in `sluice_connections_refused_total` and logged sparingly). */
  readonly refusals: ConnectionRefusals;
  /** Who each connection is (and who a bare bearer token is, for the HTTP bridge). */
  readonly auth: Authenticator;
  /** The gateway-wide bound on bytes held for peers. */
  readonly memory: MemoryBudget;
  /** The durable routes, when a durable backend was given. */
  readonly durable: DurableRoutes | undefined;
  /** Serves one RSocket connection on `transport`, from its SETUP on. */
  accept(transport: FrameTransport): Connection;
  /** An in-process connection through the front door as the `internal` principal (dead-letter replays). */
  loopback(): Promise<Connection>;
  /** Refuses new interactions from now on; running ones go on. */
  drain(): void;
  /** Closes every connection (the loopback's too) and flushes the rate-limited warnings. */
  close(): Promise<void>;
}

/** Builds the broker for `config` (already resolved with resolveGatewayConfig); opens no socket. */
export function createBroker(config: GatewayConfig, deps: BrokerDependencies): Broker {
  const log = deps.log;
  const connections = new Set<Connection>();
  const services = new Set<Connection>();

  const policies = new PolicyRuntime(compilePolicies(config.policies), deps.clock);
  // The registry's events reach the durable routes (declared below: instances register only after the broker is built).
  const registry = new Registry({
    registered: (i) => {
      log.info({ service: i.service, instance: i.id, conn: i.connection.id, routes: [...i.routes.keys()] }, 'instance registered');
      durable?.registered(i);
    },
    unregistered: (i) => {
      durable?.unregistered(i);
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
  const deadLetters = deps.deadLetters;
  const sink = deps.deadLetterSink ?? deadLetters?.sink;
  const durable = deps.durableBackend ? new DurableRoutes(deps.durableBackend, policies.table, registry, sink, log, config.durable.maxRoutes) : undefined;
  const metrics: GatewayMetrics = new GatewayMetrics(
    {
      connections: () => ({ client: connections.size - services.size, service: services.size }),
      instances: () => countBy(registry.instances(), (i) => i.service),
      streams: () => streamTotals(forwarder.live),
      bufferedBytes: () => [...connections].reduce((n, c) => n + c.bufferedBytes, 0),
      prefetchHeldBytes: () => forwarder.prefetchBudget.held,
      memory: () => ({ limitBytes: memory.limitBytes, used: MEMORY_KINDS.map((k) => [k, memory.usedBy(k)] as const) }),
    },
    deps.defaultMetrics === false ? { defaultMetrics: false } : {},
  );
  registerPolicyMetrics(metrics.registry, policies, () => deadLetters, () => forwarder.deadLetters.counts());
  // Cached answers are held memory: charged to the budget, and the first bytes it takes back.
  const caches = new ResponseCaches(config.limits.maxRoutes, undefined, memory);
  registerCacheMetrics(metrics.registry, caches);
  deps.webhooks?.observe(registerWebhookMetrics(metrics.registry, () => deps.webhooks));
  if (!deps.webhooks) registerWebhookMetrics(metrics.registry, () => undefined);
  if (durable) registerDurableMetrics(metrics.registry, () => durable?.stats() ?? []);
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

  // Replays of dead letters enter through the front door, like any request, as the internal principal.
  const internalToken = randomBytes(32).toString('base64url');
  let loopbackConn: Connection | undefined;
  const loopback = async (): Promise<Connection> => {
    if (loopbackConn?.isOpen) return loopbackConn;
    const [near, far] = inProcessPair('loopback');
    accept(far);
    loopbackConn = Connection.connect(near, { metadataMimeType: MimeTypes.COMPOSITE, dataMimeType: MimeTypes.JSON, metadata: encodeComposite([bearerEntry(internalToken)]) }, refusingResponder, { logger: log });
    return loopbackConn;
  };
  // A dead webhook delivery is replayed by queuing it again, not by a request through the front door.
  const localReplays = new Map(deps.webhooks ? [[WEBHOOK_DEAD_LETTER_ROUTE, deadDeliveryReplay(deps.webhooks)]] : []);
  const dlqRoutes = deadLetters ? deadLetterRoutes(deadLetters, loopback, log, localReplays) : undefined;
  const localTable: RouteTable = { ...deps.localRoutes, ...dlqRoutes };
  const localResponder = createServiceResponder(localTable, log.child({ local: true }));
  // sluice.stats needs the broker's internals, so it is built here and served like any local route.
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
      durable: () => (durable?.stats() ?? []).map(({ route, depth, oldestAgeMs, inFlight, redeliveries, deadLettered }) => ({ route, depth, oldestAgeMs, inFlight, redeliveries, deadLettered })),
    },
  });
  const local = new Map<string, LocalRoute>([
    [STATS_ROUTE, stats],
    ...Object.keys(localTable).map((r): [string, LocalRoute] => [r, localResponder]),
    ...(deps.webhooks ? webhookRoutes(deps.webhooks) : []),
  ]);
  /** The registration each service connection holds, for checks on token refresh. */
  const registrations = new WeakMap<Connection, Registration>();
  const auth = new Authenticator({
    verifier: deps.verifier,
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
      ...(sink ? { deadLetter: sink } : {}),
      identityOf: (conn) => auth.accessOf(conn)?.principal.id ?? identityOf([], conn.remoteAddress),
      accessOf: (conn) => auth.accessOf(conn),
      adminRoutes: new Set(Object.keys(dlqRoutes ?? {})),
      caches,
      tracer: deps.tracer,
      ...(durable ? { durable } : {}),
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

  // Dead webhook deliveries join every other dead letter: stored, counted, listed and replayed alike.
  if (deps.webhooks && forwarder.deadLetters.enabled) {
    const webhookLog = log.child({ component: 'webhooks' });
    deps.webhooks.deadLetterTo((d, sub, error) => void forwarder.deadLetters.keep(deadDeliveryLetter(d, sub, error), webhookLog));
  }

  const responderFor = (conn: Connection): Responder => ({
    ...forwarder.responderFor(conn),
    metadataPush: (metadata) => auth.metadataPush(conn, metadata),
  });

  /** Registrations deciding on a live holder of their instance id (probing it): one probe at a time per id; others wait for it, then decide. */
  const probing = new Map<string, Promise<unknown>>();
  const ownerOf = (principal: Principal) => (auth.enabled ? principal.id : 'open');

  const acceptSetup = (setup: SetupFrame, conn: Connection): Responder | Promise<Responder> => {
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
  const accept = (transport: FrameTransport): Connection => {
    const conn = ServerConnection.accept(
      transport,
      {
        accept: acceptSetup,
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
    return conn;
  };

  return {
    config,
    registry,
    metrics,
    policies,
    forwarder,
    durable,
    connections,
    live: forwarder.live,
    refusals,
    auth,
    memory,
    accept,
    loopback,
    drain: () => forwarder.drain(),
    close: async () => {
      loopbackConn?.close();
      for (const c of [...connections]) c.close(new SluiceError('CONNECTION_CLOSED', 'gateway shutting down'));
      warnings.flush();
    },
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
  // Data is forwarded untouched, so any format will do; it must only be a MIME type a per-stream entry can carry on.
  if (!isMimeType(setup.dataMimeType)) {
    throw new SluiceError('UNSUPPORTED_SETUP', `data MIME type must be a printable US-ASCII type/subtype of at most 128 bytes, got '${setup.dataMimeType}'`);
  }
}

function countBy<T>(items: T[], key: (t: T) => string): Map<string, number> {
  const m = new Map<string, number>();
  for (const i of items) m.set(key(i), (m.get(key(i)) ?? 0) + 1);
  return m;
}

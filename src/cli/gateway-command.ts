/** `sluice gateway`: runs a gateway until SIGINT/SIGTERM, then drains and exits; SIGHUP reloads keys and certificate. */
import { readFile } from 'node:fs/promises';
import { createGateway } from '../gateway.js';
import type { GatewayOptions } from '../config.js';
import { exitWithParent, intFlag, notifyParent, parseFlags, stopSignal } from './args.js';
import { applyGatewayYoungGeneration } from './young-generation.js';

const usage = `usage: sluice gateway [options]

  --config FILE        JSON file with gateway options (see docs/operations.md)
  --host HOST          WebSocket interface            (env SLUICE_HOST, default 127.0.0.1)
  --port N             WebSocket port, 0 = any free   (env SLUICE_PORT, default 7878)
  --tcp-port N         also serve RSocket over TCP    (env SLUICE_TCP_PORT, default off)
  --admin-host HOST    admin HTTP interface           (env SLUICE_ADMIN_HOST, default 127.0.0.1)
  --admin-port N       admin HTTP port                (env SLUICE_ADMIN_PORT, default 7879)
  --admin-require-token  /metrics needs a bearer token with the admin grant (default: when auth
                       is on and --admin-host is not loopback)
  --allowed-origin O   a web origin (https://app.example:8443) whose pages may open browser
                       WebSockets, besides the admin server's own (repeatable; '*' = any page)
  --tls-cert FILE      PEM certificate: serve wss://, tls:// (TCP) and https admin (env SLUICE_TLS_CERT)
  --tls-key FILE       its PEM private key                                      (env SLUICE_TLS_KEY)
  --window N           per-stream demand window       (default 1024)
  --prefetch N         most items asked of a producer ahead of its consumer, per stream
                       (default 512, within the window; 0 = demand passes through unchanged)
  --ready-route ROUTE  /readyz waits for this route (repeatable)
  --dead-letter-dir D  where the dead-letter log lives (env SLUICE_DEAD_LETTER_DIR, default ./data/gateway)
  --durable-dir D      where the embedded durable log lives (env SLUICE_DURABLE_DIR, default ./data/gateway/durable)
  --nats URL[,URL...]  NATS servers: durable routes keep their queues on JetStream there, and the gateway
                       registers in the fleet's KV bucket there (env SLUICE_NATS)
  --nats-creds FILE    NATS credentials file (env SLUICE_NATS_CREDS)
  --nats-replicas N    replicas of each durable route's stream and of the fleet bucket (default 1; 3 in a
                       3-node cluster)
  --policy R:KEY=VAL   a route policy setting, e.g. 'payment.refund:retry.maxAttempts=5'
                       (repeatable; R is a route, a prefix like 'payment.*', or 'defaults';
                       VAL is JSON; see docs/resilience.md)
  --log-level LEVEL    fatal|error|warn|info|debug    (env SLUICE_LOG_LEVEL, default info)

 webhooks (signed deliveries of published events; see docs/operations.md#webhooks):
  --webhooks           serve the webhooks.* routes and deliver (default off)
  --webhooks-dir D     the durable delivery log (env SLUICE_WEBHOOKS_DIR, default ./data/webhooks)
  --webhook-host H     a host endpoints may be on: a name, '*.suffix' or '*' (repeatable; default none)
  --webhooks-allow-loopback  endpoints may be on loopback addresses (default refused)

 fleet (several gateways serving the same routes, with --nats; see docs/operations.md):
  --advertise URL      a URL services reach this gateway at, preferred first (repeatable;
                       default the URLs it listens on)
  --fleet-id ID        its key in the bucket (default gw-<random>, new at each start)
  --fleet-ttl-ms N     services drop it when not re-announced for N ms (default 15000)
  --fleet-rate-interval-ms N  how often gateways exchange their per-identity rate-limit use over
                       NATS and rescale their buckets (default 500)
  --no-shared-rate-limits  each gateway enforces routes' rate limits alone (a caller spread over
                       N gateways gets up to N times the limit)

 auth (see docs/security.md; without a secret or JWKS auth is off and the gateway binds only to loopback):
  --auth-secret-file F HS256 secret for bearer tokens (env SLUICE_AUTH_SECRET_FILE)
  --auth-jwks-file F   JWKS of public keys for RS/PS/ES/EdDSA tokens (env SLUICE_AUTH_JWKS_FILE)
  --auth-issuer ISS    accepted token issuer (repeatable; env SLUICE_AUTH_ISSUER; default any)
  --auth-audience AUD  accepted token audience (repeatable; env SLUICE_AUTH_AUDIENCE; default any)
  --anonymous-call P   a route pattern callers without a token may call (repeatable, e.g. 'bench.*';
                       default none)
  --no-anonymous       refuse connections without a token (UNAUTHENTICATED)
  --allow-anonymous    with auth off, listen on a non-loopback --host anyway (anyone reaching it
                       may call every route and register as any service)
`;

export async function gatewayCommand(argv: string[]): Promise<void> {
  const f = parseFlags(
    argv,
    {
      config: { type: 'string' },
      host: { type: 'string' },
      port: { type: 'string' },
      'tcp-port': { type: 'string' },
      'admin-host': { type: 'string' },
      'admin-port': { type: 'string' },
      'admin-require-token': { type: 'boolean' },
      'allowed-origin': { type: 'string', multiple: true },
      'tls-cert': { type: 'string' },
      'tls-key': { type: 'string' },
      window: { type: 'string' },
      prefetch: { type: 'string' },
      'ready-route': { type: 'string', multiple: true },
      policy: { type: 'string', multiple: true },
      'dead-letter-dir': { type: 'string' },
      'durable-dir': { type: 'string' },
      nats: { type: 'string' },
      'nats-creds': { type: 'string' },
      'nats-replicas': { type: 'string' },
      'log-level': { type: 'string' },
      'auth-secret-file': { type: 'string' },
      'auth-jwks-file': { type: 'string' },
      'auth-issuer': { type: 'string', multiple: true },
      'auth-audience': { type: 'string', multiple: true },
      'anonymous-call': { type: 'string', multiple: true },
      'no-anonymous': { type: 'boolean' },
      'allow-anonymous': { type: 'boolean' },
      advertise: { type: 'string', multiple: true },
      'fleet-id': { type: 'string' },
      'fleet-ttl-ms': { type: 'string' },
      'fleet-rate-interval-ms': { type: 'string' },
      'no-shared-rate-limits': { type: 'boolean' },
      webhooks: { type: 'boolean' },
      'webhooks-dir': { type: 'string' },
      'webhook-host': { type: 'string', multiple: true },
      'webhooks-allow-loopback': { type: 'boolean' },
    },
    usage,
  );
  // Before the gateway allocates: dead off-heap buffers are collected after 16 MiB, on every Node line that allows it.
  applyGatewayYoungGeneration();
  const env = process.env;
  const file: GatewayOptions = f.config ? (JSON.parse(await readFile(String(f.config), 'utf8')) as GatewayOptions) : {};
  const tcpPort = intFlag(f['tcp-port'] ?? env.SLUICE_TCP_PORT, '--tcp-port', 0, 65535);
  const options: GatewayOptions = {
    ...file,
    listen: {
      ...file.listen,
      ...defined({
        host: (f.host as string | undefined) ?? env.SLUICE_HOST,
        port: intFlag(f.port ?? env.SLUICE_PORT, '--port', 0, 65535),
        tcpPort,
        allowedOrigins: f['allowed-origin'] as string[] | undefined,
      }),
    },
    tls: { ...file.tls, ...defined({ certFile: (f['tls-cert'] as string | undefined) ?? env.SLUICE_TLS_CERT, keyFile: (f['tls-key'] as string | undefined) ?? env.SLUICE_TLS_KEY }) },
    admin: {
      ...file.admin,
      ...defined({ host: (f['admin-host'] as string | undefined) ?? env.SLUICE_ADMIN_HOST, port: intFlag(f['admin-port'] ?? env.SLUICE_ADMIN_PORT, '--admin-port', 0, 65535), requireToken: f['admin-require-token'] === true ? true : undefined }),
    },
    flow: { ...file.flow, ...defined({ window: intFlag(f.window, '--window', 1, 65536), prefetch: intFlag(f.prefetch, '--prefetch', 0, 65536) }) },
    readiness: { ...file.readiness, ...defined({ routes: f['ready-route'] as string[] | undefined }) },
    logging: { ...file.logging, ...defined({ level: (f['log-level'] as string | undefined) ?? env.SLUICE_LOG_LEVEL }) },
    policies: applyPolicyFlags(file.policies, (f.policy as string[] | undefined) ?? []),
    deadLetter: { ...file.deadLetter, ...defined({ dir: (f['dead-letter-dir'] as string | undefined) ?? env.SLUICE_DEAD_LETTER_DIR }) },
    durable: { ...file.durable, ...defined({ dir: (f['durable-dir'] as string | undefined) ?? env.SLUICE_DURABLE_DIR }) },
    webhooks: {
      ...file.webhooks,
      ...defined({
        enabled: f.webhooks === true ? true : undefined,
        dir: (f['webhooks-dir'] as string | undefined) ?? env.SLUICE_WEBHOOKS_DIR,
        allowedHosts: f['webhook-host'] as string[] | undefined,
        allowLoopback: f['webhooks-allow-loopback'] === true ? true : undefined,
      }),
    },
    nats: natsOptions(file.nats, f, env),
    auth: authOptions(file.auth, f, env),
    fleet: {
      ...file.fleet,
      ...defined({
        advertise: f.advertise as string[] | undefined,
        id: f['fleet-id'] as string | undefined,
        ttlMs: intFlag(f['fleet-ttl-ms'], '--fleet-ttl-ms', 1_000, 3_600_000),
        rateIntervalMs: intFlag(f['fleet-rate-interval-ms'], '--fleet-rate-interval-ms', 50, 60_000),
        sharedRateLimits: f['no-shared-rate-limits'] === true ? false : undefined,
      }),
    },
  };
  const gateway = await createGateway(options);
  // SIGHUP re-reads the key files and the certificate (rotation without dropping connections).
  // Installed before anyone learns the gateway is up: a SIGHUP with no handler would kill it.
  process.on('SIGHUP', () => {
    gateway.reload().then(
      () => notifyParent({ type: 'reloaded' }),
      (err: Error) => process.stderr.write(`reload failed, keeping the keys and certificate in use: ${err.message}\n`),
    );
  });
  notifyParent({ type: 'listening', url: gateway.url, adminUrl: gateway.adminUrl, tcp: gateway.tcp, fleet: gateway.fleet });
  exitWithParent();
  await stopSignal();
  await gateway.close();
  process.exit(0);
}

/** The `nats` group: flags over env vars over the config file. */
function natsOptions(base: GatewayOptions['nats'], f: Record<string, unknown>, env: NodeJS.ProcessEnv): NonNullable<GatewayOptions['nats']> {
  const servers = (f.nats as string | undefined) ?? (env.SLUICE_NATS || undefined);
  return {
    ...base,
    ...defined({
      servers: servers?.split(',').map((s) => s.trim()).filter(Boolean),
      credentialsFile: (f['nats-creds'] as string | undefined) ?? (env.SLUICE_NATS_CREDS || undefined),
      replicas: intFlag(f['nats-replicas'], '--nats-replicas', 1, 5),
    }),
  };
}

/** The `auth` group: flags over env vars over the config file. */
export function authOptions(base: GatewayOptions['auth'], f: Record<string, unknown>, env: NodeJS.ProcessEnv): NonNullable<GatewayOptions['auth']> {
  const list = (flag: unknown, envValue: string | undefined): string | string[] | undefined => {
    const values = (flag as string[] | undefined) ?? (envValue ? [envValue] : undefined);
    return values === undefined ? undefined : values.length === 1 ? values[0] : values;
  };
  const anonymousCall = f['anonymous-call'] as string[] | undefined;
  return {
    ...base,
    ...defined({
      secretFile: (f['auth-secret-file'] as string | undefined) ?? (env.SLUICE_AUTH_SECRET_FILE || undefined),
      jwksFile: (f['auth-jwks-file'] as string | undefined) ?? (env.SLUICE_AUTH_JWKS_FILE || undefined),
      issuer: list(f['auth-issuer'], env.SLUICE_AUTH_ISSUER),
      audience: list(f['auth-audience'], env.SLUICE_AUTH_AUDIENCE),
      allowAnonymous: f['allow-anonymous'] === true ? true : undefined,
    }),
    anonymous: {
      ...base?.anonymous,
      ...defined({ call: anonymousCall, enabled: f['no-anonymous'] === true ? false : undefined }),
    },
  };
}

function defined<T extends Record<string, unknown>>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** Overlays `--policy ROUTE:KEY=VALUE` flags on the config file's policies. */
export function applyPolicyFlags(base: GatewayOptions['policies'], flags: string[]): NonNullable<GatewayOptions['policies']> {
  const policies = structuredClone({ defaults: {}, routes: {}, ...base }) as { defaults: Record<string, unknown>; routes: Record<string, Record<string, unknown>> };
  for (const flag of flags) {
    const eq = flag.indexOf('=');
    const left = eq < 0 ? '' : flag.slice(0, eq);
    const colon = left.lastIndexOf(':');
    if (eq < 0 || colon <= 0 || colon === left.length - 1) throw new Error(`--policy '${flag}': expected ROUTE:KEY=VALUE, e.g. 'payment.refund:retry.maxAttempts=5'`);
    const route = left.slice(0, colon);
    const path = left.slice(colon + 1).split('.');
    const raw = flag.slice(eq + 1);
    let value: unknown;
    try {
      value = JSON.parse(raw);
    } catch {
      value = raw;
    }
    let target = route === 'defaults' ? policies.defaults : (policies.routes[route] ??= {});
    for (const key of path.slice(0, -1)) target = (target[key] ??= {}) as Record<string, unknown>;
    target[path.at(-1)!] = value;
  }
  return policies;
}

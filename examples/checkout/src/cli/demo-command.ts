/**
 * `sluice-checkout demo` (what `npm start` runs): the gateway, the checkout services
 * (order, payment, inventory) and the bench service, each its own process,
 * connected over WebSocket. Waits until every service is registered
 * (/readyz 200), prints where to look, and on Ctrl-C stops the gateway first
 * (it drains in-flight work) and then the services. A child that crashes
 * (the gateway included) is restarted with backoff while the others keep
 * running; each start prints a `[supervisor]` line with the restart count.
 *
 * It runs with auth on, as a deployment should: the gateway verifies tokens
 * signed with a secret made on first run under the data dir; each service
 * gets a token granting only its own registration and the routes it calls;
 * anonymous callers get only the public demo routes; the operator token
 * (admin) is written beside the secret for the CLI to use.
 */
import { chmod, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { mintToken } from '../../../../src/auth/mint.js';
import { ensureSecretFile } from '../../../../src/auth/secret-file.js';
import { resolveInventoryOptions, resolvePaymentOptions } from '../config.js';
import { prepareStoreDirs } from '../db.js';
import { INVENTORY_ROUTES } from '../inventory-service.js';
import { ORDER_OWNER_ROUTES, ORDER_ROUTES } from '../order-service.js';
import { PAYMENT_ROUTES } from '../payment-service.js';
import { DEFAULT_DATA_DIR } from '../service-host.js';
import { createLogger } from 'sluice';
import { checkoutPolicies, policyFlags } from '../gateway-policies.js';
import { CHECKOUT, SLUICE, defaultRestartPolicy, supervise, waitForHttpOk, type ChildSpec, type Supervised, type SupervisionEvents } from '../supervisor.js';
import { intFlag, parseFlags, stopSignal, type Flags } from '../../../../src/cli/args.js';
import { OPERATOR_TOKEN_FILE } from '../../../../src/cli/cli-token.js';
import { INVENTORY_KNOBS, PAYMENT_KNOBS, knobArgs, readKnobs, withKnobNames } from './knobs.js';

const usage = `usage: sluice-checkout demo [options]    (npm start -- [options])

  --host HOST         gateway interface (env SLUICE_HOST, default 127.0.0.1)
  --port N            gateway WebSocket port (env SLUICE_PORT, default 7878; 0 = any free)
  --admin-port N      admin HTTP port (env SLUICE_ADMIN_PORT, default 7879; 0 = any free)
  --log-level LEVEL   children's log level (env SLUICE_LOG_LEVEL, default warn)
  --data-dir DIR      where the checkout services keep their stores (env SLUICE_DATA_DIR, default ${DEFAULT_DATA_DIR})

The failure story (see docs/checkout.md):
  --payment-latency-ms N      payment answers N ms after doing the work (env SLUICE_PAYMENT_LATENCY_MS, default 0)
  --payment-failure-rate R    share of payment calls failing with UNAVAILABLE, 0-1 (env SLUICE_PAYMENT_FAILURE_RATE, default 0)
  --inventory-latency-ms N    same for inventory (env SLUICE_INVENTORY_LATENCY_MS, default 0)
  --inventory-failure-rate R  same for inventory (env SLUICE_INVENTORY_FAILURE_RATE, default 0)
`;

interface DemoService {
  readonly name: string;
  readonly routes: readonly string[];
  /** Routes it calls through the gateway: its token grants these and no others. */
  readonly calls: readonly string[];
  /** Route patterns it registers beyond `routes` (routes that exist per instance); its token grants these too. */
  readonly registers?: readonly string[];
  /** Arguments after `service <name> --url <url>`. */
  readonly args: readonly string[];
  /** Environment beyond the demo's own (log level, token). */
  readonly env?: Readonly<Record<string, string>>;
}

/** Started first; the order service follows once they are registered, so the sagas it resumes find them. */
const BENCH: DemoService = { name: 'bench', routes: ['bench.echo', 'bench.source', 'bench.stats', 'bench.sink'], calls: [], args: [] };

/** What anyone may call without a token: the bench routes and the customer-facing checkout (and the dashboard's). */
export const DEMO_ANONYMOUS_CALL = ['bench.*', 'checkout.place', 'checkout.submit', 'orders.watch', 'orders.get', 'inventory.stock', 'sluice.stats'] as const;

/**
 * The saga's steps and compensations, and the other order instances' owner
 * routes (a read of an order another instance owns is relayed there): the
 * order service's token grants exactly these.
 */
const ORDER_CALLS = ['payment.authorize', 'payment.refund', 'inventory.reserve', 'inventory.release', ORDER_OWNER_ROUTES, 'webhooks.publish'] as const;

/**
 * The webhook topic the order service publishes every order event to. Its
 * token registers it (only the owner of a topic may publish it); subscribing
 * takes a grant to call both `webhooks.subscribe` and the topic, which the
 * operator token has and anonymous callers do not.
 */
export const DEMO_ORDER_EVENTS_TOPIC = 'orders.events';

/** Lifetime of the tokens the demo mints at each start: longer than any demo session; restarting mints new ones. */
const DEMO_TOKEN_TTL_MS = 30 * 24 * 3600_000;

/** Under the data dir: the gateway's HS256 secret (created on first run, 0600). */
export const DEMO_SECRET_FILE = join('gateway', 'auth-secret');

export async function demoCommand(argv: string[]): Promise<void> {
  const flags: Flags = { host: { type: 'string' }, port: { type: 'string' }, 'admin-port': { type: 'string' }, 'log-level': { type: 'string' }, 'data-dir': { type: 'string' } };
  for (const k of PAYMENT_KNOBS) flags[`payment-${k.flag}`] = { type: 'string' };
  for (const k of INVENTORY_KNOBS) flags[`inventory-${k.flag}`] = { type: 'string' };
  const f = parseFlags(argv, flags, usage);
  const env = process.env;
  const host = (f.host as string | undefined) ?? env.SLUICE_HOST ?? '127.0.0.1';
  const port = intFlag(f.port ?? env.SLUICE_PORT, '--port', 0, 65535) ?? 7878;
  const adminPort = intFlag(f['admin-port'] ?? env.SLUICE_ADMIN_PORT, '--admin-port', 0, 65535) ?? 7879;
  const level = (f['log-level'] as string | undefined) ?? env.SLUICE_LOG_LEVEL ?? 'warn';
  const dataDir = resolve((f['data-dir'] as string | undefined) ?? env.SLUICE_DATA_DIR ?? DEFAULT_DATA_DIR);
  // Validated here, before anything starts, with the demo's flag names in the message.
  const payment = readKnobs(f, PAYMENT_KNOBS, 'payment-');
  const inventory = readKnobs(f, INVENTORY_KNOBS, 'inventory-');
  const paymentOptions = withKnobNames(PAYMENT_KNOBS, () => resolvePaymentOptions(payment), 'payment-');
  const inventoryOptions = withKnobNames(INVENTORY_KNOBS, () => resolveInventoryOptions(inventory), 'inventory-');
  const childEnv = { SLUICE_LOG_LEVEL: level };

  const checkout = (name: string, routes: readonly string[], calls: readonly string[], extra: string[] = []): DemoService => ({ name, routes, calls, args: ['--data-dir', dataDir, ...extra] });
  const first = [checkout('payment', PAYMENT_ROUTES, [], knobArgs(payment, PAYMENT_KNOBS)), checkout('inventory', INVENTORY_ROUTES, [], knobArgs(inventory, INVENTORY_KNOBS)), BENCH];
  const order: DemoService = { ...checkout('order', ORDER_ROUTES, ORDER_CALLS), registers: [ORDER_OWNER_ROUTES, DEMO_ORDER_EVENTS_TOPIC], env: { SLUICE_ORDER_WEBHOOK_TOPIC: DEMO_ORDER_EVENTS_TOPIC } };
  const all = [...first, order];

  const log = createLogger({ name: 'sluice-demo', level });
  process.stdout.write(`Starting the Sluice demo (stores in ${dataDir})...\n`);
  await prepareStoreDirs(['order', 'payment', 'inventory'].map((s) => join(dataDir, s)), log);
  const auth = await prepareCredentials(dataDir, all);

  const readyRoutes = all.flatMap((s) => s.routes.flatMap((r) => ['--ready-route', r]));
  // The ports the gateway picked on its first start: a restarted gateway takes the same ones, where the services reconnect.
  let ports = { port, adminPort };
  const gatewaySpec = (): ChildSpec => ({
    name: 'gateway',
    args: [
      'gateway',
      ...['--host', host, '--port', String(ports.port), '--admin-port', String(ports.adminPort)],
      ...readyRoutes,
      ...policyFlags(checkoutPolicies),
      ...['--dead-letter-dir', join(dataDir, 'gateway')],
      ...['--durable-dir', join(dataDir, 'gateway', 'durable')],
      // Order events to webhooks on this machine (a demo's receivers are local; a deployment lists its hosts).
      ...['--webhooks', '--webhooks-dir', join(dataDir, 'gateway', 'webhooks'), '--webhook-host', '127.0.0.1', '--webhook-host', 'localhost', '--webhooks-allow-loopback'],
      ...['--auth-secret-file', auth.secretFile],
      ...DEMO_ANONYMOUS_CALL.flatMap((r) => ['--anonymous-call', r]),
    ],
    env: childEnv,
  });
  const say = (line: string) => process.stdout.write(`[supervisor] ${line}\n`);
  const events: SupervisionEvents = {
    started: (name, pid, restarts) => say(`${name} started (pid ${pid ?? '?'}, restarts ${restarts})`),
    restarting: (name, exit, restarts, delayMs) => say(`${name} exited (${exit}): restart ${restarts} in ${delayMs} ms; the rest keeps running`),
    gaveUp: (name, exit, crashes, windowMs) => say(`${name} exited (${exit}): ${crashes} crashes within ${windowMs / 1000} s, a crash loop: not restarting it; the rest keeps running`),
  };
  let firstListening: Promise<{ url: string; adminUrl: string }> | undefined;
  const gateway = supervise(gatewaySpec, events, defaultRestartPolicy, 'inherit', (child, restarts) => {
    const listening = child.message<{ url: string; adminUrl: string }>('listening', 30_000);
    if (restarts === 0) firstListening = listening;
    else listening.then(() => say(`gateway listening again (restarts ${restarts})`), () => {});
  });
  const services: Supervised[] = [];
  const stopAll = async () => {
    await gateway.stop(15_000);
    await Promise.all(services.map((s) => s.stop(5_000)));
  };
  const start = (s: DemoService, url: string) => {
    // The token goes by environment, not argv (which ps shows to every user); a token file the user set is not for these.
    const env = { ...childEnv, ...s.env, SLUICE_TOKEN: auth.tokens.get(s.name)!, SLUICE_TOKEN_FILE: '' };
    // The bench service is the product's (`sluice service bench`); the checkout services are this example's.
    const program = s.name === BENCH.name ? SLUICE : CHECKOUT;
    let registered: Promise<unknown> | undefined;
    const supervised = supervise(() => ({ name: s.name, program, args: ['service', s.name, '--url', url, ...s.args], env }), events, defaultRestartPolicy, 'inherit', (child, restarts) => {
      const r = child.message('registered', 60_000);
      if (restarts === 0) registered = r;
      else r.then(() => say(`${s.name} registered again (restarts ${restarts})`), () => {});
    });
    services.push(supervised);
    return registered!;
  };
  try {
    const { url, adminUrl } = await firstListening!;
    ports = { port: Number(new URL(url).port), adminPort: Number(new URL(adminUrl).port) };
    await Promise.all(first.map((s) => start(s, url)));
    await start(order, url);
    await waitForHttpOk(`${adminUrl}/readyz`, 60_000);
    process.stdout.write(banner(url, adminUrl, dataDir, all, { payment: paymentOptions, inventory: inventoryOptions }, auth));
  } catch (err) {
    await stopAll();
    throw err;
  }
  const signal = await stopSignal();
  process.stdout.write(`\n${signal}: stopping (gateway drains first, then services)\n`);
  await stopAll();
  const restarted = [gateway, ...services].filter((s) => s.restarts > 0).map((s) => `${s.name} ${s.restarts}`);
  process.stdout.write(`stopped${restarted.length ? ` (restarts: ${restarted.join(', ')})` : ''}\n`);
  process.exit(0);
}

interface DemoCredentials {
  readonly secretFile: string;
  readonly operatorFile: string;
  /** Service name to its token. */
  readonly tokens: ReadonlyMap<string, string>;
}

/**
 * The secret (made once, kept across runs so tokens minted with
 * `sluice token` stay valid), one token per service, and the operator token
 * (admin, every route) written 0600 where the CLI looks by default.
 */
async function prepareCredentials(dataDir: string, services: readonly DemoService[]): Promise<DemoCredentials> {
  const secretFile = join(dataDir, DEMO_SECRET_FILE);
  const { secret } = await ensureSecretFile(secretFile);
  const tokens = new Map<string, string>();
  for (const s of services) {
    tokens.set(s.name, await mintToken({ secret, subject: s.name, grant: { service: s.name, register: [...s.routes, ...(s.registers ?? [])], call: s.calls }, ttlMs: DEMO_TOKEN_TTL_MS }));
  }
  const operatorFile = join(dataDir, OPERATOR_TOKEN_FILE);
  const operator = await mintToken({ secret, subject: 'operator', grant: { call: ['*'], admin: true }, ttlMs: DEMO_TOKEN_TTL_MS });
  await writeFile(operatorFile, `${operator}\n`, { mode: 0o600 });
  // The mode applies only when the file is created: an older, wider one is narrowed too.
  await chmod(operatorFile, 0o600);
  return { secretFile, operatorFile, tokens };
}

function banner(
  url: string,
  adminUrl: string,
  dataDir: string,
  services: readonly DemoService[],
  knobs: { payment: { latencyMs: number; failureRate: number }; inventory: { latencyMs: number; failureRate: number } },
  auth: DemoCredentials,
): string {
  const knob = (k: { latencyMs: number; failureRate: number }) => `latency ${k.latencyMs} ms, failure rate ${k.failureRate}`;
  return [
    '',
    'Sluice demo is up.',
    `  gateway   ${url}   (RSocket over WebSocket)`,
    `  admin     ${adminUrl}   /healthz  /readyz  /metrics`,
    `  dashboard ${adminUrl}/`,
    `  services  ${services.map((s) => s.name).join(', ')}`,
    `  data      ${dataDir}`,
    `  payment   ${knob(knobs.payment)};  inventory   ${knob(knobs.inventory)}`,
    `  auth      on: anonymous callers may call ${DEMO_ANONYMOUS_CALL.join(', ')}`,
    `            secret ${auth.secretFile}; operator token (admin) ${auth.operatorFile}, used by the CLI by default`,
    '',
    'Try it:',
    `  npm run --silent checkout -- order --sku A1 --qty 2 --url ${url}`,
    '',
    'More:',
    `  npm run --silent checkout -- order --sku Z9 --url ${url}   (sold out: payment refunded, order cancelled)`,
    `  node bin/sluice.js call inventory.stock '{}' --url ${url}`,
    `  node bin/sluice.js call webhooks.subscribe '{"topic":"${DEMO_ORDER_EVENTS_TOPIC}","url":"http://127.0.0.1:9000/hook"}' --url ${url}`,
    `            (every order event, signed per Standard Webhooks, POSTed to your endpoint; the answer holds its secret)`,
    `  node bin/sluice.js call bench.echo '{"hello":"sluice"}' --url ${url}`,
    `  npm start -- --inventory-latency-ms 2000 --inventory-failure-rate 0.2   (checkout.place stays fast)`,
    '',
    'A crashed service or gateway is restarted with backoff ([supervisor] lines show the restart count).',
    'Ctrl-C stops everything.',
    '',
  ].join('\n');
}

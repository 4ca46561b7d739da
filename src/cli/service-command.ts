/** `sluice service <name>`: runs a built-in service connected to a gateway. */
import { benchRoutes } from '../loadtest/bench-service.js';
import { connectService } from '../service/connect-service.js';
import { createLogger, type PinoLogger } from '../observability/logger.js';
import { startInventoryService } from '../../examples/checkout/src/inventory-service.js';
import { startOrderService } from '../../examples/checkout/src/order-service.js';
import { startPaymentService } from '../../examples/checkout/src/payment-service.js';
import { DEFAULT_DATA_DIR } from '../../examples/checkout/src/service-host.js';
import { readFile } from 'node:fs/promises';
import type { TokenSource } from '../client/token.js';
import { caOption, exitWithParent, notifyParent, parseFlags, stopSignal, type Flags } from './args.js';
import { INVENTORY_KNOBS, ORDER_KNOBS, PAYMENT_KNOBS, readKnobs, withKnobNames, type Knob } from '../../examples/checkout/src/cli/knobs.js';

const usage = `usage: sluice service <name> [options]

  name                 bench | order | payment | inventory
  --url URL            gateway URL          (env SLUICE_URL, default ws://127.0.0.1:7878)
  --ca FILE            PEM CA to trust for a wss:// or tls:// URL (env SLUICE_CA; bench only)
  --instance ID        instance id          (default <name>-1 for checkout services, <name>-<random> for bench)
  --log-level LEVEL    (env SLUICE_LOG_LEVEL, default info)
  --token-file FILE    bearer token granting the registration (env SLUICE_TOKEN_FILE); re-read on every
                       reconnection and before the token expires, so rewriting the file rotates it
                       env SLUICE_TOKEN: the token itself (never on the command line, which ps shows)
                       default: no token (a gateway with auth on refuses the registration)

checkout services (order, payment, inventory):
  --data-dir DIR       root data dir; the store lives in DIR/<name>   (env SLUICE_DATA_DIR, default ${DEFAULT_DATA_DIR})

payment and inventory (failure injection, see docs/checkout.md):
  --latency-ms N       delay each answer by N ms after the work is done, 0-600000  (env SLUICE_PAYMENT_LATENCY_MS / SLUICE_INVENTORY_LATENCY_MS, default 0)
  --failure-rate R     fail this share of calls with UNAVAILABLE, 0-1              (env SLUICE_PAYMENT_FAILURE_RATE / SLUICE_INVENTORY_FAILURE_RATE, default 0)
payment:
  --max-amount-cents N decline authorizations above N cents (default 1000000)

order:
  --queue-size N       work queue of place commands in progress (default 64)
  --max-sagas N        sagas in progress in memory at once; more wait in the store (default 2048)
  --max-step-calls N   ceiling of the adaptive limit on calls in flight per dependency (default 1024)
  --initial-step-calls N  where that limit starts before answers are measured (default 20)
  --max-watchers N     orders.watch streams at once (default 10000)
  --max-submit-channels N  checkout.submit channels at once (default 64)
  --step-deadline-ms N deadline of one saga step call (env SLUICE_STEP_DEADLINE_MS, default 5000)
  --step-attempts N    attempts of authorize / reserve before compensating (env SLUICE_STEP_ATTEMPTS, default 6)
  --step-deferrals N   refusals in a row by the gateway itself (open breaker, rate limit) a step waits
                       out without spending an attempt (default 20)
  --retry-initial-delay-ms N, --retry-max-delay-ms N   backoff between attempts (default 200, 5000)
  --compensation-retry-ms N  a failing refund / release is retried after N ms (default 10000)
`;

interface Running {
  readonly service: string;
  readonly instance: string;
  close(): Promise<void>;
}

interface Common {
  url: string;
  ca: string | undefined;
  instance: string | undefined;
  dataDir: string;
  logger: PinoLogger;
  token: TokenSource | undefined;
}

type Starter = (common: Common, values: Record<string, number>) => Promise<Running>;

const services: Record<string, { knobs: readonly Knob[]; start: Starter }> = {
  bench: {
    knobs: [],
    async start(c) {
      const s = await connectService({
        url: c.url,
        service: 'bench',
        ...(c.instance ? { instance: c.instance } : {}),
        ...(c.token !== undefined ? { token: c.token } : {}),
        routes: benchRoutes(),
        logger: c.logger,
        ...caOption(c.ca),
      });
      return { service: s.service, instance: s.instance, close: async () => s.close() };
    },
  },
  order: { knobs: ORDER_KNOBS, start: (c, order) => checkout(startOrderService({ ...host(c), order })) },
  payment: { knobs: PAYMENT_KNOBS, start: (c, payment) => checkout(startPaymentService({ ...host(c), payment })) },
  inventory: { knobs: INVENTORY_KNOBS, start: (c, inventory) => checkout(startInventoryService({ ...host(c), inventory })) },
};

export async function serviceCommand(argv: string[]): Promise<void> {
  const [name, ...rest] = argv;
  const def = name ? services[name] : undefined;
  if (!def) throw new Error(`unknown service '${name ?? ''}'; known: ${Object.keys(services).join(', ')}\n\n${usage}`);
  const flags: Flags = { url: { type: 'string' }, ca: { type: 'string' }, instance: { type: 'string' }, 'log-level': { type: 'string' }, 'token-file': { type: 'string' } };
  if (name !== 'bench') flags['data-dir'] = { type: 'string' };
  for (const k of def.knobs) flags[k.flag] = { type: 'string' };
  const f = parseFlags(rest, flags, usage);
  const values = readKnobs(f, def.knobs);
  const logger = createLogger({ name: `sluice-${name}`, level: (f['log-level'] as string | undefined) ?? process.env.SLUICE_LOG_LEVEL ?? 'info' });
  const running = await withKnobNames(def.knobs, () =>
    def.start(
      {
        url: (f.url as string | undefined) ?? process.env.SLUICE_URL ?? 'ws://127.0.0.1:7878',
        instance: f.instance as string | undefined,
        ca: f.ca as string | undefined,
        dataDir: (f['data-dir'] as string | undefined) ?? process.env.SLUICE_DATA_DIR ?? DEFAULT_DATA_DIR,
        logger,
        token: serviceToken((f['token-file'] as string | undefined) ?? process.env.SLUICE_TOKEN_FILE, process.env.SLUICE_TOKEN),
      },
      values,
    ),
  );
  notifyParent({ type: 'registered', service: running.service, instance: running.instance });
  exitWithParent();
  await stopSignal();
  await running.close();
  process.exit(0);
}

function host(c: Common) {
  return { url: c.url, dataDir: c.dataDir, logger: c.logger, ...(c.instance ? { instance: c.instance } : {}), ...(c.token !== undefined ? { token: c.token } : {}) };
}

/** A token file is a provider (read on every connection and refresh, so it can be rotated in place); SLUICE_TOKEN is fixed. */
export function serviceToken(file: string | undefined, fixed: string | undefined): TokenSource | undefined {
  if (file) return async () => (await readFile(file, 'utf8')).trim();
  return fixed ? fixed.trim() : undefined;
}

async function checkout(started: Promise<{ service: { service: string; instance: string }; close(): Promise<void> }>): Promise<Running> {
  const r = await started;
  return { service: r.service.service, instance: r.service.instance, close: () => r.close() };
}


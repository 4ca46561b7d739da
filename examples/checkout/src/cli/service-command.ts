/** `sluice-checkout service <name>`: runs one checkout service (order, payment, inventory) connected to a gateway. */
import { runServiceCommand, type RunningService, type ServiceCommon, type ServiceDefinition } from '../../../../src/cli/service-command.js';
import type { FlagValues } from '../../../../src/cli/args.js';
import { startInventoryService } from '../inventory-service.js';
import { startOrderService } from '../order-service.js';
import { startPaymentService } from '../payment-service.js';
import { DEFAULT_DATA_DIR } from '../service-host.js';
import { INVENTORY_KNOBS, ORDER_KNOBS, PAYMENT_KNOBS, readKnobs, withKnobNames, type Knob } from './knobs.js';

const usage = `usage: sluice-checkout service <name> [options]

  name                 order | payment | inventory
  --url URL            gateway URL          (env SLUICE_URL, default ws://127.0.0.1:7878)
  --ca FILE            PEM CA to trust for a wss:// or tls:// URL (env SLUICE_CA)
  --instance ID        instance id          (default <name>-1)
  --log-level LEVEL    (env SLUICE_LOG_LEVEL, default info)
  --token-file FILE    bearer token granting the registration (env SLUICE_TOKEN_FILE); re-read on every
                       reconnection and before the token expires, so rewriting the file rotates it
                       env SLUICE_TOKEN: the token itself (never on the command line, which ps shows)
                       default: no token (a gateway with auth on refuses the registration)

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
  --order-instances LIST  every order instance, this one included (order-1,order-2): each idempotency
                       key is placed by one of them, the others relay it there (env SLUICE_ORDER_INSTANCES,
                       default this instance alone; every instance must be given the same list)
  --relay-deadline-ms N  deadline of a place relayed to the key's owner (default 5000)
  --store-thread T     where the order store's PGlite runs: worker (its own thread) or service (this
                       service's thread)  (env SLUICE_ORDER_STORE_THREAD, default worker)
  --max-journaled-places N  orders answered from the place journal and not yet committed to the store;
                       past it a place waits for its own commit; 0 turns the journal off
                       (env SLUICE_ORDER_MAX_JOURNALED_PLACES, default 512)
  --place-linger-ms N  how long a journaled order waits for others to share its commit (default 25)
  --store-nice N       nice value of the order store's worker thread, 0-19: saga writes yield the CPU
                       to the thread answering places (env SLUICE_ORDER_STORE_NICE, default 10)
`;

type Starter = (host: ReturnType<typeof hostOptions>, values: Record<string, number>, f: FlagValues) => Promise<{ service: { service: string; instance: string }; close(): Promise<void> }>;

/** A checkout service: its store under --data-dir, its knobs as flags, validated by its own option resolver; `strings`: its other flags. */
function checkoutService(knobs: readonly Knob[], start: Starter, strings: readonly string[] = []): ServiceDefinition {
  const flags: NonNullable<ServiceDefinition['flags']> = { 'data-dir': { type: 'string' } };
  for (const k of knobs) flags[k.flag] = { type: 'string' };
  for (const name of strings) flags[name] = { type: 'string' };
  return {
    flags,
    async start(c: ServiceCommon, f: FlagValues): Promise<RunningService> {
      const values = readKnobs(f, knobs);
      const r = await withKnobNames(knobs, () => start(hostOptions(c, f), values, f));
      return { service: r.service.service, instance: r.service.instance, close: () => r.close() };
    },
  };
}

function hostOptions(c: ServiceCommon, f: FlagValues) {
  const dataDir = (f['data-dir'] as string | undefined) ?? process.env.SLUICE_DATA_DIR ?? DEFAULT_DATA_DIR;
  return { url: c.url, ...(c.discovery ? { discovery: c.discovery } : {}), dataDir, logger: c.logger, ...(c.instance ? { instance: c.instance } : {}), ...(c.token !== undefined ? { token: c.token } : {}) };
}

const services: Record<string, ServiceDefinition> = {
  // SLUICE_ORDER_WEBHOOK_TOPIC: publish every order event to that webhook topic (the gateway's webhooks.publish).
  order: checkoutService(
    ORDER_KNOBS,
    (host, order, f) => {
      const instances = (f['order-instances'] as string | undefined) ?? process.env.SLUICE_ORDER_INSTANCES;
      const storeThread = (f['store-thread'] as string | undefined) ?? process.env.SLUICE_ORDER_STORE_THREAD;
      return startOrderService({
        ...host,
        order,
        ...(instances !== undefined && instances !== '' ? { orderInstances: instances } : {}),
        ...(storeThread !== undefined && storeThread !== '' ? { storeThread } : {}),
        ...(process.env.SLUICE_ORDER_WEBHOOK_TOPIC ? { webhookTopic: process.env.SLUICE_ORDER_WEBHOOK_TOPIC } : {}),
      });
    },
    ['order-instances', 'store-thread'],
  ),
  payment: checkoutService(PAYMENT_KNOBS, (host, payment) => startPaymentService({ ...host, payment })),
  inventory: checkoutService(INVENTORY_KNOBS, (host, inventory) => startInventoryService({ ...host, inventory })),
};

export async function serviceCommand(argv: string[]): Promise<void> {
  await runServiceCommand(argv, services, usage);
}

/**
 * The checkout services as real child processes (`sluice service order|
 * payment|inventory`) around a real gateway on port 0, with a temp data dir
 * removed afterwards.
 *
 * A PGlite cluster's first initialisation costs seconds of CPU, so one empty
 * cluster is made per machine (in the OS temp dir, keyed by the PGlite
 * version) and copied into each service's data dir; each service still
 * creates its own schema on open, exactly as on a first run.
 */
import { cp, mkdir, mkdtemp, readFile, rename, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { createGateway, type Gateway } from '../../src/gateway.js';
import type { GatewayOptions } from '../../src/config.js';
import { connect, type Client } from '../../clients/node/index.js';
import { startChild, type Child } from '../../src/demo/supervisor.js';
import type { OrderEvent } from '../../src/checkout/events.js';
import { isTerminal } from '../../src/checkout/events.js';

export type ServiceName = 'order' | 'payment' | 'inventory';

export interface StackOptions {
  /** Extra flags per service, e.g. `{ inventory: ['--latency-ms', '1000'] }`. */
  flags?: Partial<Record<ServiceName, string[]>>;
  /** Gateway options on top of the test defaults (policies, for example); the dead-letter dir defaults into the stack's data dir. */
  gateway?: GatewayOptions;
}

export interface CheckoutStack {
  readonly gateway: Gateway;
  readonly client: Client;
  readonly dataDir: string;
  readonly children: Record<ServiceName, Child>;
  /** Starts (or restarts, with the same data dir) one service and waits until it is registered. */
  start(name: ServiceName, extraFlags?: string[]): Promise<Child>;
  /** kill -9 of one service; resolves once the process is gone. */
  kill(name: ServiceName): Promise<void>;
  /** Places an order and returns its id. */
  place(items: { sku: string; qty: number }[], key?: string): Promise<string>;
  /** Every event of an order up to the terminal one (history, then live). */
  events(orderId: string): Promise<OrderEvent[]>;
  close(): Promise<void>;
}

let keys = 0;

export async function startCheckoutStack(options: StackOptions = {}): Promise<CheckoutStack> {
  const template = await pgliteTemplate();
  const dataDir = await mkdtemp(join(tmpdir(), 'sluice-checkout-'));
  const flags = options.flags ?? {};
  const gateway = await createGateway({
    ...options.gateway,
    listen: { port: 0 },
    admin: { port: 0 },
    logging: { level: process.env.SLUICE_TEST_LOG ?? 'silent' },
    drainTimeoutMs: 500,
    deadLetter: { dir: join(dataDir, 'gateway'), ...options.gateway?.deadLetter },
  });
  const children = {} as Record<ServiceName, Child>;
  const log = process.env.SLUICE_TEST_LOG;

  const start = async (name: ServiceName, extraFlags: string[] = flags[name] ?? []): Promise<Child> => {
    const dir = join(dataDir, name);
    try {
      await stat(join(dir, 'PG_VERSION'));
    } catch {
      await cp(template, dir, { recursive: true });
    }
    const child = startChild(
      { name, args: ['service', name, '--url', gateway.url, '--data-dir', dataDir, ...extraFlags], env: { SLUICE_LOG_LEVEL: log ?? 'silent' } },
      log ? 'inherit' : 'ignore',
    );
    children[name] = child;
    await child.message('registered', 30_000);
    return child;
  };

  let client: Client | undefined;
  const stack: CheckoutStack = {
    gateway,
    get client() {
      return client!;
    },
    dataDir,
    children,
    start,
    async kill(name) {
      const proc = children[name].process;
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      const gone = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
      proc.kill('SIGKILL');
      await gone;
    },
    async place(items, key = `key-${process.pid}-${++keys}`) {
      const r = await client!.requestResponse<{ orderId: string; status: string }>('checkout.place', { idempotencyKey: key, customerId: 'cust-1', items });
      return r.orderId;
    },
    async events(orderId) {
      const events: OrderEvent[] = [];
      for await (const e of client!.iterateStream<OrderEvent>('orders.watch', { orderId })) events.push(e);
      return events;
    },
    async close() {
      client?.close();
      await gateway.close();
      await Promise.all(Object.values(children).map((c) => c.stop(5_000)));
      await rm(dataDir, { recursive: true, force: true });
    },
  };
  try {
    // Payment and inventory first: the order service's sagas call them as soon as it starts.
    await Promise.all([start('payment'), start('inventory')]);
    await start('order');
    client = await connect({ url: gateway.url });
  } catch (err) {
    await stack.close();
    throw err;
  }
  return stack;
}

/** Event types of a log, in order. */
export function types(events: readonly { type: string }[]): string[] {
  return events.map((e) => e.type);
}

export function lastIsTerminal(events: readonly { type: string }[]): boolean {
  return events.length > 0 && isTerminal(events.at(-1)!);
}

/** An empty PGlite cluster made once per machine and PGlite version; copy it, never open it. */
export async function pgliteTemplate(): Promise<string> {
  // The pinned version in our package.json: a new PGlite gets a new template.
  const pkg = JSON.parse(await readFile(new URL('../../package.json', import.meta.url), 'utf8')) as { dependencies: Record<string, string> };
  const dir = join(tmpdir(), `sluice-pglite-template-${pkg.dependencies['@electric-sql/pglite']}`);
  try {
    await stat(join(dir, 'PG_VERSION'));
    return dir;
  } catch {
    // not made yet
  }
  await mkdir(tmpdir(), { recursive: true });
  const scratch = await mkdtemp(join(tmpdir(), 'sluice-pglite-init-'));
  const db = await PGlite.create(scratch);
  await db.close();
  try {
    await rename(scratch, dir);
  } catch {
    // Another test file made it meanwhile: use theirs.
    await rm(scratch, { recursive: true, force: true });
  }
  return dir;
}

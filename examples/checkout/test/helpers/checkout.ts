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
import { createGateway, type Gateway } from 'sluice';
import type { GatewayOptions } from 'sluice';
import { connect, type Client } from 'sluice/client';
import { CHECKOUT, startChild, type Child } from '../../src/supervisor.js';
import type { OrderEvent } from '../../src/events.js';
import { isTerminal } from '../../src/events.js';

export type ServiceName = 'order' | 'payment' | 'inventory';

export interface StackOptions {
  /** Extra flags per service, e.g. `{ inventory: ['--latency-ms', '1000'] }`. */
  flags?: Partial<Record<ServiceName, string[]>>;
  /** Gateway options on top of the test defaults (policies, for example); the dead-letter and durable dirs default into the stack's data dir. */
  gateway?: GatewayOptions;
  /** Order-service instances to run (order-1, order-2, ...), each with its own store. Default 1. */
  orderInstances?: number;
  /** Extra environment of every service process (OTEL_* for tracing, for example). */
  env?: Record<string, string>;
  /**
   * The services to run as child processes, default all three. A test that serves one itself (to hold its
   * answers, for example) leaves it out and registers it with `connectService` before `startOrder`/`start('order')`.
   */
  services?: readonly ServiceName[];
}

export interface CheckoutStack {
  readonly gateway: Gateway;
  readonly client: Client;
  readonly dataDir: string;
  readonly children: Record<ServiceName, Child>;
  /** Every order-service instance by id (`order-1` is also `children.order`). */
  readonly orders: Map<string, Child>;
  /** Starts (or restarts) order-service instance `instance` with its own store and waits until it is registered. */
  startOrder(instance: string): Promise<Child>;
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
    durable: { dir: join(dataDir, 'gateway', 'durable'), ...options.gateway?.durable },
  });
  const children = {} as Record<ServiceName, Child>;
  const orders = new Map<string, Child>();
  const log = process.env.SLUICE_TEST_LOG;

  /** `storeDir` is where the service will keep its store (see orderStoreDir for order instances). */
  const launch = async (name: ServiceName, storeDir: string, extraFlags: string[]): Promise<Child> => {
    const dir = join(dataDir, storeDir);
    try {
      await stat(join(dir, 'PG_VERSION'));
    } catch {
      await cp(template, dir, { recursive: true });
    }
    const child = startChild(
      { name: storeDir, program: CHECKOUT, args: ['service', name, '--url', gateway.url, '--data-dir', dataDir, ...extraFlags], env: { ...options.env, SLUICE_LOG_LEVEL: log ?? 'silent' } },
      log ? 'inherit' : 'ignore',
    );
    await child.message('registered', 30_000);
    return child;
  };
  // Several order instances are each given the list of all: a key is placed by its owner among them.
  const orderCount = options.orderInstances ?? 1;
  const instanceFlags = orderCount > 1 ? ['--order-instances', Array.from({ length: orderCount }, (_, i) => `order-${i + 1}`).join(',')] : [];
  const start = async (name: ServiceName, extraFlags: string[] = name === 'order' ? [...(flags.order ?? []), ...instanceFlags] : (flags[name] ?? [])): Promise<Child> => {
    const child = await launch(name, name, extraFlags);
    children[name] = child;
    if (name === 'order') orders.set('order-1', child);
    return child;
  };
  const startOrder = async (instance: string): Promise<Child> => {
    if (instance === 'order-1') return start('order');
    const child = await launch('order', instance, [...(flags.order ?? []), ...instanceFlags, '--instance', instance]);
    orders.set(instance, child);
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
    orders,
    start,
    startOrder,
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
      await Promise.all([...new Set([...Object.values(children), ...orders.values()])].map((c) => c.stop(5_000)));
      await rm(dataDir, { recursive: true, force: true });
    },
  };
  try {
    // Payment and inventory first: the order service's sagas call them as soon as it starts.
    const run = new Set(options.services ?? ['order', 'payment', 'inventory']);
    await Promise.all((['payment', 'inventory'] as const).filter((n) => run.has(n)).map((n) => start(n)));
    if (run.has('order')) {
      await start('order');
      for (let i = 2; i <= (options.orderInstances ?? 1); i++) await startOrder(`order-${i}`);
    }
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

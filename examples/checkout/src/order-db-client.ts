/**
 * The service thread's side of the order store's worker (order-db-worker.ts):
 * starts the worker, sends it operations and settles each with its answer.
 *
 * The worker's entry sits beside this module with the same extension: run
 * from TypeScript sources (the demo, the tests) it is order-db-worker.ts,
 * and a worker does not inherit the `--import tsx` hooks of its process on
 * every Node line, so it registers tsx itself before importing its entry;
 * bundled (examples/checkout/dist, scripts/build.ts) it is
 * order-db-worker.mjs beside cli.mjs, plain JavaScript started as is.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { SluiceError } from 'sluice';
import type { OrderDbOp, OrderDbOps } from './order-db.js';
import type { DbReady, DbReply, DbRequest } from './order-db-worker.js';

interface Pending {
  resolve(value: { value: unknown; busyMs: number }): void;
  reject(err: unknown): void;
}

/** How long the worker was busy with store operations: what an order to accept may wait behind. */
export interface StoreBusyStats {
  /** Operations answered since start. */
  readonly ops: number;
  /** The longest one, in ms. */
  readonly maxMs: number;
  /** The longest of the last 1024, in ms. */
  readonly recentMaxMs: number;
  /** The last one, in ms (undefined before any). */
  readonly lastMs: number | undefined;
  /** Orders accepted, and the transactions they were committed in (several places waiting commit together). */
  readonly places: number;
  readonly placeCommits: number;
}

/**
 * Where the order store's operations go: its worker (OrderDbClient) or the
 * service thread itself (InlineOrderDb, order-db-inline.ts). Either way
 * operations run one at a time, accepting orders first (order-db-lanes.ts).
 */
export interface OrderDbChannel {
  /** Runs one operation; resolves with its answer. */
  call<K extends OrderDbOp>(op: K, ...args: Parameters<OrderDbOps[K]>): ReturnType<OrderDbOps[K]>;
  /** Runs one operation; resolves with its answer and how long it held the store (ms). */
  measured<K extends OrderDbOp>(op: K, ...args: Parameters<OrderDbOps[K]>): Promise<{ value: Awaited<ReturnType<OrderDbOps[K]>>; busyMs: number }>;
  readonly busy: StoreBusyStats;
  /** Starts the busy figures afresh (after warming up). */
  resetBusy(): void;
  /** Closes the store (after the operations queued before) and releases what runs it. */
  close(): Promise<void>;
}

const RECENT = 1024;

/** The busy figures of one store: the longest operations, overall and recently. */
export class BusyRecorder {
  private ops = 0;
  private maxMs = 0;
  private readonly recent = new Float64Array(RECENT);
  private places = 0;
  private lastCommit = 0;
  private commits = 0;

  /** One answer; `placeCommit` numbers a place's transaction (answers of one transaction share it). */
  record(busyMs: number, placeCommit?: number): void {
    this.recent[this.ops % RECENT] = busyMs;
    this.ops++;
    if (busyMs > this.maxMs) this.maxMs = busyMs;
    if (placeCommit === undefined) return;
    this.places++;
    if (placeCommit !== this.lastCommit) this.commits++;
    this.lastCommit = placeCommit;
  }

  get stats(): StoreBusyStats {
    let recentMaxMs = 0;
    for (let i = 0; i < Math.min(this.ops, RECENT); i++) recentMaxMs = Math.max(recentMaxMs, this.recent[i]!);
    return { ops: this.ops, maxMs: this.maxMs, recentMaxMs, lastMs: this.ops > 0 ? this.recent[(this.ops - 1) % RECENT] : undefined, places: this.places, placeCommits: this.commits };
  }

  reset(): void {
    this.ops = 0;
    this.maxMs = 0;
    this.places = 0;
    this.commits = 0;
  }
}

export class OrderDbClient implements OrderDbChannel {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private stopped: SluiceError | undefined;
  private readonly recorder = new BusyRecorder();

  private constructor(private readonly worker: Worker) {
    worker.on('message', (reply: DbReply) => this.settle(reply));
    worker.on('error', (err) => this.fail(`the order store's worker failed: ${err.message}`));
    worker.on('exit', (code) => this.fail(`the order store's worker exited (code ${code})`));
  }

  /** Starts the worker on the store in `dir` and waits until the store is open; `ms` is how long opening took. */
  static async start(dir: string): Promise<{ client: OrderDbClient; ms: number }> {
    const worker = startWorker(new URL(`./order-db-worker${extensionOf(import.meta.url)}`, import.meta.url), { dir });
    const ready = await new Promise<DbReady>((resolve, reject) => {
      const onExit = (code: number) => reject(new Error(`the order store's worker exited (code ${code}) before opening ${dir}`));
      worker.once('error', reject);
      worker.once('exit', onExit);
      worker.once('message', (m: DbReady) => {
        worker.off('error', reject);
        worker.off('exit', onExit);
        resolve(m);
      });
    });
    if (!ready.ready) {
      await worker.terminate();
      throw new Error(`cannot open the order store in ${dir}: ${ready.error}`);
    }
    return { client: new OrderDbClient(worker), ms: ready.ms };
  }

  get busy(): StoreBusyStats {
    return this.recorder.stats;
  }

  resetBusy(): void {
    this.recorder.reset();
  }

  /**
   * Posts one operation to the worker at once: places as soon as they are
   * asked for (the worker runs them first and together), other operations
   * as OrderStore's gate lets them (one at a time). `pending` is bounded by
   * those callers.
   */
  call<K extends OrderDbOp>(op: K, ...args: Parameters<OrderDbOps[K]>): ReturnType<OrderDbOps[K]> {
    return this.send(op, args).then((r) => r.value) as ReturnType<OrderDbOps[K]>;
  }

  measured<K extends OrderDbOp>(op: K, ...args: Parameters<OrderDbOps[K]>): Promise<{ value: Awaited<ReturnType<OrderDbOps[K]>>; busyMs: number }> {
    return this.send(op, args) as Promise<{ value: Awaited<ReturnType<OrderDbOps[K]>>; busyMs: number }>;
  }

  /** Closes the store and stops the worker. */
  async close(): Promise<void> {
    if (this.stopped) return;
    try {
      await this.send('close', []);
    } finally {
      this.stopped ??= new SluiceError('UNAVAILABLE', 'the order store is closed');
      await this.worker.terminate();
    }
  }

  private send(op: DbRequest['op'], args: readonly unknown[]): Promise<{ value: unknown; busyMs: number }> {
    if (this.stopped) return Promise.reject(this.stopped);
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ id, op, args } satisfies DbRequest);
    });
  }

  private settle(reply: DbReply): void {
    const p = this.pending.get(reply.id);
    if (!p) return;
    this.pending.delete(reply.id);
    this.recorder.record(reply.busyMs, reply.placeCommit);
    if ('error' in reply) p.reject(Object.assign(new Error(reply.error.message), reply.error.code ? { code: reply.error.code } : {}));
    else p.resolve({ value: reply.value, busyMs: reply.busyMs });
  }

  private fail(why: string): void {
    this.stopped ??= new SluiceError('UNAVAILABLE', why);
    for (const p of this.pending.values()) p.reject(this.stopped);
    this.pending.clear();
  }
}

/** `.ts`, `.js` or `.mjs`: how this module's own file name ends. */
function extensionOf(url: string): string {
  const path = new URL(url).pathname;
  return path.slice(path.lastIndexOf('.'));
}

function startWorker(entry: URL, workerData: unknown): Worker {
  if (!entry.pathname.endsWith('.ts')) return new Worker(entry, { workerData });
  // tsx's ESM entry, from its package's own exports map (resolving 'tsx/esm/api' from here picks its CommonJS build).
  const require = createRequire(import.meta.url);
  const pkgPath = require.resolve('tsx/package.json');
  const pkg = JSON.parse(readFileSync(pkgPath, 'utf8')) as { exports: Record<string, { import: { default: string } }> };
  const api = pathToFileURL(join(dirname(pkgPath), pkg.exports['./esm/api']!.import.default)).href;
  const code = `import(${JSON.stringify(api)}).then((tsx) => { tsx.register(); return import(${JSON.stringify(entry.href)}); });`;
  return new Worker(code, { eval: true, workerData });
}

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
import { RecordingChannel } from './order-db-channel.js';
import type { LaneReport } from './order-db-lanes.js';
import type { DbReady, DbReply, DbRequest } from './order-db-worker.js';

interface Pending {
  settle(outcome: { value: unknown } | { error: unknown }, report: LaneReport): void;
}

/** How the store's worker runs (OrderDbClient.start). */
export interface WorkerOptions {
  /** Store time a slice of a batch of transitions aims at, ms (order-db-lanes.ts). */
  readonly sliceBudgetMs?: number;
  /** The worker thread's nice value (0-19; Linux applies it to that thread alone). Default: the process's. */
  readonly nice?: number;
}

export class OrderDbClient extends RecordingChannel {
  private nextId = 1;
  /** Bounded by the callers: places by the work queues, other operations by OrderStore's gate (one at a time). */
  private readonly pending = new Map<number, Pending>();

  private constructor(private readonly worker: Worker) {
    super();
    worker.on('message', (reply: DbReply) => this.settle(reply));
    worker.on('error', (err) => this.fail(`the order store's worker failed: ${err.message}`));
    worker.on('exit', (code) => this.fail(`the order store's worker exited (code ${code})`));
  }

  /** Starts the worker on the store in `dir` and waits until the store is open; `ms` is how long opening took. */
  static async start(dir: string, options: WorkerOptions = {}): Promise<{ client: OrderDbClient; ms: number; nice: number | null }> {
    const worker = startWorker(new URL(`./order-db-worker${extensionOf(import.meta.url)}`, import.meta.url), { dir, ...options });
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
    return { client: new OrderDbClient(worker), ms: ready.ms, nice: ready.nice };
  }

  /**
   * Posts one operation to the worker at once: places as soon as they are
   * asked for (the worker runs them first and together), other operations
   * as OrderStore's gate lets them (one at a time).
   */
  protected submit(op: DbRequest['op'], args: readonly unknown[], settle: Pending['settle']): void {
    const id = this.nextId++;
    this.pending.set(id, { settle });
    this.worker.postMessage({ id, op, args } satisfies DbRequest);
  }

  protected async release(): Promise<void> {
    await this.worker.terminate();
  }

  private settle(reply: DbReply): void {
    const p = this.pending.get(reply.id);
    if (!p) return;
    this.pending.delete(reply.id);
    if ('error' in reply) p.settle({ error: Object.assign(new Error(reply.error.message), reply.error.code ? { code: reply.error.code } : {}) }, reply.report);
    else p.settle({ value: reply.value }, reply.report);
  }

  private fail(why: string): void {
    const err = this.stop(why);
    for (const p of this.pending.values()) p.settle({ error: err }, { busyMs: 0, runs: [], waitedMs: 0 });
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

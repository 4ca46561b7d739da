/**
 * The order store's worker thread: opens the store named by its workerData
 * and runs the operations the service thread sends (order-db.ts), one at a
 * time, answering each with `{ id, value }` or `{ id, error }`. PGlite's
 * WebAssembly runs here, so the service thread keeps reading its sockets
 * while a batch of saga writes executes.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { OrderDb, type OrderDbOp } from './order-db.js';

/** A request from the service thread. */
export interface DbRequest {
  readonly id: number;
  readonly op: OrderDbOp | 'close';
  readonly args: readonly unknown[];
}

/** The answer to one request; `busyMs` is how long the operation held the store. */
export type DbReply = { id: number; value: unknown; busyMs: number } | { id: number; error: { message: string; code?: string }; busyMs: number };

/** The first message: the store is open (or could not be). */
export type DbReady = { ready: true; ms: number } | { ready: false; error: string };

const port = parentPort!;
const { dir } = workerData as { dir: string };

let db: OrderDb;
try {
  const opened = await OrderDb.open(dir);
  db = opened.db;
  port.postMessage({ ready: true, ms: opened.ms } satisfies DbReady);
} catch (err) {
  port.postMessage({ ready: false, error: (err as Error).message } satisfies DbReady);
  process.exit(1);
}

port.on('message', (req: DbRequest) => {
  const started = performance.now();
  const run = req.op === 'close' ? db.close() : (db[req.op] as (...a: unknown[]) => Promise<unknown>).apply(db, req.args as unknown[]);
  run.then(
    (value) => port.postMessage({ id: req.id, value, busyMs: performance.now() - started } satisfies DbReply),
    (err: unknown) => {
      const e = err as { message?: unknown; code?: unknown };
      const error = { message: String(e?.message ?? err), ...(typeof e?.code === 'string' ? { code: e.code } : {}) };
      port.postMessage({ id: req.id, error, busyMs: performance.now() - started } satisfies DbReply);
    },
  );
});

/**
 * The order store's worker thread: opens the store named by its workerData
 * and runs the operations the service thread sends (order-db.ts) through
 * its run queue (order-db-lanes.ts: one at a time, accepting first, the
 * orders to accept that are waiting committed together), answering each
 * with `{ id, value }` or `{ id, error }`. PGlite's WebAssembly runs here,
 * so the service thread keeps reading its sockets while a batch of saga
 * writes executes.
 */
import { parentPort, receiveMessageOnPort, workerData } from 'node:worker_threads';
import { OrderDb, type OrderDbOp } from './order-db.js';
import { StoreLanes, type LaneReport } from './order-db-lanes.js';

/** A request from the service thread. */
export interface DbRequest {
  readonly id: number;
  readonly op: OrderDbOp | 'close';
  readonly args: readonly unknown[];
}

/** The answer to one request, with the run queue's report of it (how long it held the store, what it waited behind). */
export type DbReply = ({ id: number; value: unknown } | { id: number; error: { message: string; code?: string } }) & { report: LaneReport };

/** The first message: the store is open (or could not be). */
export type DbReady = { ready: true; ms: number } | { ready: false; error: string };

const port = parentPort!;
const { dir, sliceBudgetMs } = workerData as { dir: string; sliceBudgetMs?: number };

let db: OrderDb;
try {
  const opened = await OrderDb.open(dir);
  db = opened.db;
  port.postMessage({ ready: true, ms: opened.ms } satisfies DbReady);
} catch (err) {
  port.postMessage({ ready: false, error: (err as Error).message } satisfies DbReady);
  process.exit(1);
}

const submit = (req: DbRequest) =>
  lanes.submit({
    op: req.op,
    args: req.args,
    answer(outcome, report) {
      if ('value' in outcome) return port.postMessage({ id: req.id, value: outcome.value, report } satisfies DbReply);
      const e = outcome.error as { message?: unknown; code?: unknown };
      const error = { message: String(e?.message ?? outcome.error), ...(typeof e?.code === 'string' ? { code: e.code } : {}) };
      port.postMessage({ id: req.id, error, report } satisfies DbReply);
    },
  });

// Before each pick, every request already posted is taken off the port (not left for a later turn of
// this thread's event loop): a place posted while a batch of saga writes ran goes next.
const lanes = new StoreLanes(
  db,
  () => {
    for (let m = receiveMessageOnPort(port); m; m = receiveMessageOnPort(port)) submit(m.message as DbRequest);
  },
  sliceBudgetMs !== undefined ? { sliceBudgetMs } : {},
);

port.on('message', submit);

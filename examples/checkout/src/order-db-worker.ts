/**
 * The order store's worker thread: opens the store named by its workerData
 * and runs the operations the service thread sends (order-db.ts) through
 * its run queue (order-db-lanes.ts: one at a time, accepting first, the
 * orders to accept that are waiting committed together), answering each
 * with `{ id, value }` or `{ id, error }`. PGlite's WebAssembly runs here,
 * so the service thread keeps reading its sockets while a batch of saga
 * writes executes.
 */
import { setPriority } from 'node:os';
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

/** The first message: the store is open (or could not be); `nice`: this thread's nice value, null when it could not be set. */
export type DbReady = { ready: true; ms: number; nice: number | null } | { ready: false; error: string };

const port = parentPort!;
const { dir, sliceBudgetMs, nice } = workerData as { dir: string; sliceBudgetMs?: number; nice?: number };

/**
 * The store's work is the service's background work (saga writes, reads),
 * so this thread yields the CPU to the service thread that answers places,
 * and to the gateway and the other services on the machine: on Linux a
 * thread's nice value is its own (pid 0 here is this thread). Measured on 2
 * cores at 100 orders/s (docs/checkout.md): the service thread's event-loop
 * lateness p99 fell from 10-11 to 6-7 ms with the saga throughput unchanged.
 * Where it cannot be set (another OS), the store runs as before.
 */
let applied: number | null = null;
if (nice !== undefined) {
  try {
    setPriority(0, nice);
    applied = nice;
  } catch {
    applied = null;
  }
}

let db: OrderDb;
try {
  const opened = await OrderDb.open(dir);
  db = opened.db;
  port.postMessage({ ready: true, ms: opened.ms, nice: applied } satisfies DbReady);
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

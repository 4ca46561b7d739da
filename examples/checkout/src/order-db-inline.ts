/**
 * The order store run on the service's own thread (`storeThread: 'service'`):
 * the same statements and run queue as in the worker (order-db-lanes.ts),
 * without the trips between threads. PGlite then executes synchronously on
 * the thread that reads the service's sockets, so a turn of the event loop is
 * taken before each operation: a place arriving meanwhile is read and goes
 * next. Kept to compare against the worker in the same run (the sync-chain
 * benchmark, docs/checkout.md) and for machines where a second thread costs
 * more than it frees.
 */
import { RecordingChannel } from './order-db-channel.js';
import type { OrderDbOp } from './order-db.js';
import { OrderDb } from './order-db.js';
import { StoreLanes, type LaneReport } from './order-db-lanes.js';

export class InlineOrderDb extends RecordingChannel {
  private readonly lanes: StoreLanes;

  private constructor(db: OrderDb, sliceBudgetMs?: number) {
    super();
    this.lanes = new StoreLanes(db, () => new Promise<void>((resolve) => setImmediate(resolve)), sliceBudgetMs !== undefined ? { sliceBudgetMs } : {});
  }

  /** Opens (creating on first use) the store in `dir` on this thread; `ms` is how long opening took. */
  static async start(dir: string, sliceBudgetMs?: number): Promise<{ client: InlineOrderDb; ms: number; nice: null }> {
    const { db, ms } = await OrderDb.open(dir);
    return { client: new InlineOrderDb(db, sliceBudgetMs), ms, nice: null };
  }

  protected submit(op: OrderDbOp | 'close', args: readonly unknown[], settle: (outcome: { value: unknown } | { error: unknown }, report: LaneReport) => void): void {
    this.lanes.submit({ op, args, answer: settle });
  }

  protected release(): Promise<void> {
    return Promise.resolve();
  }
}

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
import { SluiceError } from 'sluice';
import { BusyRecorder, type OrderDbChannel, type StoreBusyStats } from './order-db-client.js';
import type { OrderDbOp, OrderDbOps } from './order-db.js';
import { OrderDb } from './order-db.js';
import { StoreLanes } from './order-db-lanes.js';

export class InlineOrderDb implements OrderDbChannel {
  private readonly recorder = new BusyRecorder();
  private readonly lanes: StoreLanes;
  private stopped: SluiceError | undefined;

  private constructor(db: OrderDb) {
    this.lanes = new StoreLanes(db, () => new Promise<void>((resolve) => setImmediate(resolve)));
  }

  /** Opens (creating on first use) the store in `dir` on this thread; `ms` is how long opening took. */
  static async start(dir: string): Promise<{ client: InlineOrderDb; ms: number }> {
    const { db, ms } = await OrderDb.open(dir);
    return { client: new InlineOrderDb(db), ms };
  }

  get busy(): StoreBusyStats {
    return this.recorder.stats;
  }

  resetBusy(): void {
    this.recorder.reset();
  }

  call<K extends OrderDbOp>(op: K, ...args: Parameters<OrderDbOps[K]>): ReturnType<OrderDbOps[K]> {
    return this.send(op, args).then((r) => r.value) as ReturnType<OrderDbOps[K]>;
  }

  measured<K extends OrderDbOp>(op: K, ...args: Parameters<OrderDbOps[K]>): Promise<{ value: Awaited<ReturnType<OrderDbOps[K]>>; busyMs: number }> {
    return this.send(op, args) as Promise<{ value: Awaited<ReturnType<OrderDbOps[K]>>; busyMs: number }>;
  }

  async close(): Promise<void> {
    if (this.stopped) return;
    try {
      await this.send('close', []);
    } finally {
      this.stopped ??= new SluiceError('UNAVAILABLE', 'the order store is closed');
    }
  }

  private send(op: OrderDbOp | 'close', args: readonly unknown[]): Promise<{ value: unknown; busyMs: number }> {
    if (this.stopped) return Promise.reject(this.stopped);
    return new Promise((resolve, reject) => {
      this.lanes.submit({
        op,
        args,
        answer: (outcome, busyMs, placeCommit) => {
          this.recorder.record(busyMs, placeCommit);
          if ('value' in outcome) resolve({ value: outcome.value, busyMs });
          else reject(outcome.error);
        },
      });
    });
  }
}

/**
 * Wakes `orders.watch` streams when their order's log grows. It carries no
 * events (the store is read for them), only "something was appended", so a
 * watcher can never miss or duplicate an event: it reads the log from its
 * next `seq` each time it wakes. Subscriptions are bounded; each is removed
 * when its stream ends or is cancelled.
 */
import { SluiceError } from 'sluice';

export class OrderSubscription {
  private changed = false;
  private waiter: { resolve: () => void; reject: (e: unknown) => void } | undefined;

  constructor(
    readonly orderId: string,
    private readonly onClose: (s: OrderSubscription) => void,
  ) {}

  /** Forget earlier notifications: call right before reading the log. */
  reset(): void {
    this.changed = false;
  }

  /** Resolves at the next append since `reset()` (at once if one happened already); rejects when `signal` aborts. */
  wait(signal: AbortSignal): Promise<void> {
    if (this.changed) return Promise.resolve();
    if (signal.aborted) return Promise.reject(new SluiceError('CANCELED', 'orders.watch cancelled'));
    return new Promise<void>((resolve, reject) => {
      const onAbort = () => {
        this.waiter = undefined;
        reject(new SluiceError('CANCELED', 'orders.watch cancelled'));
      };
      signal.addEventListener('abort', onAbort, { once: true });
      this.waiter = {
        resolve: () => {
          signal.removeEventListener('abort', onAbort);
          resolve();
        },
        reject,
      };
    });
  }

  /** @internal called by the notifier. */
  notify(): void {
    this.changed = true;
    const w = this.waiter;
    this.waiter = undefined;
    w?.resolve();
  }

  close(): void {
    this.onClose(this);
  }
}

export class OrderNotifier {
  private readonly byOrder = new Map<string, Set<OrderSubscription>>();
  private count = 0;

  /** @param capacity subscriptions open at once; more are refused with OVERLOADED */
  constructor(readonly capacity: number) {}

  get active(): number {
    return this.count;
  }

  subscribe(orderId: string): OrderSubscription {
    if (this.count >= this.capacity) throw new SluiceError('OVERLOADED', `too many orders.watch streams (${this.capacity}); retry later`);
    const sub = new OrderSubscription(orderId, (s) => this.remove(s));
    let set = this.byOrder.get(orderId);
    if (!set) this.byOrder.set(orderId, (set = new Set()));
    set.add(sub);
    this.count++;
    return sub;
  }

  notify(orderId: string): void {
    const set = this.byOrder.get(orderId);
    if (set) for (const sub of set) sub.notify();
  }

  private remove(sub: OrderSubscription): void {
    const set = this.byOrder.get(sub.orderId);
    if (!set?.delete(sub)) return;
    this.count--;
    if (set.size === 0) this.byOrder.delete(sub.orderId);
  }
}

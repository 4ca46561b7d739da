import { describe, expect, it } from 'vitest';
import { SluiceError } from 'sluice';
import { WorkQueue } from '../../src/work-queue.js';
import { OrderNotifier } from '../../src/order-notifier.js';
import { resolveInventoryOptions, resolveOrderOptions, resolvePaymentOptions, resolveStoreThread } from '../../src/config.js';
import { ConfigError } from 'sluice';

describe('order work queue', () => {
  it('hands slots out FIFO, tracks its high water mark and refuses waiters beyond the bound', async () => {
    const q = new WorkQueue(2, 1);
    await q.acquire();
    await q.acquire();
    expect([q.depth, q.max]).toEqual([2, 2]);
    let third = false;
    const waiting = q.acquire().then(() => (third = true));
    await expect(q.acquire()).rejects.toMatchObject({ code: 'OVERLOADED' });
    expect(third).toBe(false);
    q.release();
    await waiting;
    expect([q.depth, q.max, q.waiting]).toEqual([2, 2, 0]);
    q.release();
    q.release();
    expect(q.depth).toBe(0);
    expect(() => q.release()).toThrow(/without a matching acquire/);
  });

  it('a waiter that is cancelled leaves the line', async () => {
    const q = new WorkQueue(1, 10);
    await q.acquire();
    const ac = new AbortController();
    const waiting = q.acquire(ac.signal);
    expect(q.waiting).toBe(1);
    ac.abort();
    await expect(waiting).rejects.toMatchObject({ code: 'CANCELED' });
    expect(q.waiting).toBe(0);
    q.release();
    expect(q.depth).toBe(0);
  });
});

describe('order notifier', () => {
  it('wakes a waiting subscriber, remembers a notification that came before the wait, and is bounded', async () => {
    const n = new OrderNotifier(2);
    const a = n.subscribe('o1');
    const b = n.subscribe('o2');
    expect(() => n.subscribe('o3')).toThrow(SluiceError);
    const ac = new AbortController();
    a.reset();
    const woke = a.wait(ac.signal);
    n.notify('o1');
    await woke;
    b.reset();
    n.notify('o2');
    await b.wait(ac.signal); // notified before waiting: resolves at once
    a.close();
    b.close();
    expect(n.active).toBe(0);
    n.subscribe('o3').close();
  });

  it('a cancelled wait rejects and the subscription can be closed', async () => {
    const n = new OrderNotifier(1);
    const s = n.subscribe('o1');
    const ac = new AbortController();
    const waiting = s.wait(ac.signal);
    ac.abort();
    await expect(waiting).rejects.toMatchObject({ code: 'CANCELED' });
    s.close();
    s.close();
    expect(n.active).toBe(0);
  });
});

describe('checkout options', () => {
  it('have defaults and refuse out-of-range values naming the key and range', () => {
    expect(resolveOrderOptions().queueSize).toBe(64);
    expect(resolvePaymentOptions({ latencyMs: 10 }).latencyMs).toBe(10);
    expect(() => resolvePaymentOptions({ failureRate: 2 })).toThrow("config 'payment.failureRate': must be a number from 0 to 1, got 2");
    expect(() => resolveInventoryOptions({ latencyMs: -1 })).toThrow("config 'inventory.latencyMs': must be an integer from 0 to 600000, got -1");
    expect(() => resolveOrderOptions({ queueSize: 0 })).toThrow(ConfigError);
    expect(resolveStoreThread(undefined)).toBe('worker');
    expect(resolveStoreThread('service')).toBe('service');
    expect(() => resolveStoreThread('main')).toThrow(/order\.storeThread.*worker, service/);
    expect(() => resolveOrderOptions({ retryInitialDelayMs: 500, retryMaxDelayMs: 100 })).toThrow(/retryMaxDelayMs/);
    expect(() => resolveOrderOptions({ nope: 1 } as never)).toThrow(/unknown option/);
  });
});

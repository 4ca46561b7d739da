/**
 * StopHooks: every wait ends when the stop signal aborts, the stop signal
 * carries one listener however many waits there are, and a wait that ends
 * on its own leaves nothing behind.
 */
import { getEventListeners } from 'node:events';
import { describe, expect, it } from 'vitest';
import { StopHooks } from '../../src/stop-hooks.js';

describe('StopHooks', () => {
  it('keeps one listener on the stop signal for any number of waits, and runs each hook once on abort', () => {
    const stop = new AbortController();
    const hooks = new StopHooks(stop.signal);
    let ran = 0;
    const offs = Array.from({ length: 1_000 }, () => hooks.on(() => ran++));
    const scoped = Array.from({ length: 1_000 }, () => hooks.scoped());
    expect(getEventListeners(stop.signal, 'abort')).toHaveLength(1);
    expect(hooks.size).toBe(2_000);
    // Removed hooks do not run.
    for (const off of offs.slice(0, 400)) off();
    scoped[0]!.release();
    expect(hooks.size).toBe(1_599);
    stop.abort(new Error('shutting down'));
    expect(ran).toBe(600);
    expect(scoped[0]!.signal.aborted).toBe(false);
    expect(scoped.slice(1).every((s) => s.signal.aborted && (s.signal.reason as Error).message === 'shutting down')).toBe(true);
    expect(hooks.size).toBe(0);
    // After the abort a hook runs at once.
    hooks.on(() => ran++);
    expect(ran).toBe(601);
    expect(hooks.scoped().signal.aborted).toBe(true);
  });

  it('sleep resolves true when its time passes, leaving no hook, and false at once when stopped', async () => {
    const stop = new AbortController();
    const hooks = new StopHooks(stop.signal);
    expect(await hooks.sleep(1)).toBe(true);
    expect(hooks.size).toBe(0);
    const long = hooks.sleep(3_600_000);
    expect(hooks.size).toBe(1);
    stop.abort();
    expect(await long).toBe(false);
    expect(await hooks.sleep(3_600_000)).toBe(false);
  });

  it('link aborts each linked controller with the stop reason once, unlink leaves one out, and after the abort link aborts at once', () => {
    const stop = new AbortController();
    const hooks = new StopHooks(stop.signal);
    const controllers = Array.from({ length: 1_000 }, () => new AbortController());
    for (const c of controllers) hooks.link(c);
    expect(getEventListeners(stop.signal, 'abort')).toHaveLength(1);
    expect(hooks.size).toBe(1_000);
    for (const c of controllers.slice(0, 10)) hooks.unlink(c);
    expect(hooks.size).toBe(990);
    const reason = new Error('shutting down');
    stop.abort(reason);
    expect(controllers.slice(0, 10).some((c) => c.signal.aborted)).toBe(false);
    expect(controllers.slice(10).every((c) => c.signal.aborted && c.signal.reason === reason)).toBe(true);
    expect(hooks.size).toBe(0);
    const late = new AbortController();
    hooks.link(late);
    expect(late.signal.reason).toBe(reason);
    expect(hooks.size).toBe(0);
  });
});

/**
 * The Reconnector on a scripted `open()`: it keeps one connection up, and once
 * closed it schedules nothing and reports nothing more.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { Reconnector } from '../../src/client/reconnect.js';
import { SluiceError } from '../../src/errors.js';
import type { Connection } from '../../src/rsocket/connection.js';

afterEach(() => {
  vi.useRealTimers();
});

/** An `open()` whose attempts the test settles one by one. */
function scriptedOpen() {
  const attempts: Array<{ resolve: (c: Connection) => void; reject: (e: SluiceError) => void }> = [];
  const open = () => new Promise<Connection>((resolve, reject) => void attempts.push({ resolve, reject }));
  return { open, attempts };
}

describe('Reconnector', () => {
  it.each([
    ['schedules no further attempt', 10],
    ['does not report giving up', 2],
  ])('closed while an attempt is failing, it %s', async (_what, maxAttempts) => {
    vi.useFakeTimers();
    const { open, attempts } = scriptedOpen();
    const failed = vi.fn();
    const r = new Reconnector(open, { initialDelayMs: 1_000, maxDelayMs: 1_000, maxAttempts }, { failed });
    const first = r.start().catch((e: SluiceError) => e);
    expect(attempts).toHaveLength(1);
    attempts[0]!.reject(new SluiceError('UNAVAILABLE', 'gateway down'));
    await vi.advanceTimersByTimeAsync(2_000);
    expect(attempts).toHaveLength(2);
    // The second attempt is under way when the owner gives up.
    r.close();
    expect(await first).toMatchObject({ code: 'UNAVAILABLE' });
    attempts[1]!.reject(new SluiceError('UNAVAILABLE', 'gateway down'));
    await vi.advanceTimersByTimeAsync(0);
    // Nothing keeps the process alive and nothing fires after close().
    expect(vi.getTimerCount()).toBe(0);
    expect(failed).not.toHaveBeenCalled();
    await vi.advanceTimersByTimeAsync(10_000);
    expect(attempts).toHaveLength(2);
  });

  it('hands the next connection to requests waiting for one, fails them after their wait, and refuses them once closed', async () => {
    vi.useFakeTimers();
    const { open, attempts } = scriptedOpen();
    const listeners: Array<() => void> = [];
    const conn = (): Connection => ({ isOpen: true, onClose: (l: () => void) => void listeners.push(l), close: () => {} }) as unknown as Connection;
    const r = new Reconnector(open, { initialDelayMs: 10, maxDelayMs: 10 });
    const started = r.start();
    const early = r.nextConnection(1_000);
    const late = r.nextConnection(50).catch((e: SluiceError) => e);
    await vi.advanceTimersByTimeAsync(60);
    expect(await late).toMatchObject({ code: 'UNAVAILABLE', message: expect.stringContaining('within 50 ms') });
    const c = conn();
    attempts[0]!.resolve(c);
    await started;
    expect(await early).toBe(c);
    // Connected: answered at once.
    expect(await r.nextConnection(1)).toBe(c);
    r.close();
    await expect(r.nextConnection(1_000)).rejects.toMatchObject({ code: 'UNAVAILABLE' });
  });
});

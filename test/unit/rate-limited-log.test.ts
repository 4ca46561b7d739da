import { afterEach, describe, expect, it, vi } from 'vitest';
import { RateLimitedLog, peerHost } from '../../src/observability/rate-limited-log.js';
import type { Logger } from '../../src/observability/log.js';

function recordingLogger() {
  const lines: Array<{ obj: object; msg?: string | undefined }> = [];
  const log: Logger = { debug() {}, info() {}, error() {}, warn: (obj, msg) => lines.push({ obj, msg }), child: () => log };
  return { log, lines };
}

afterEach(() => {
  vi.useRealTimers();
});

describe('RateLimitedLog', () => {
  it('writes the first line per key per interval and reports how many it left out on the next one', () => {
    let now = 0;
    const { log, lines } = recordingLogger();
    const limited = new RateLimitedLog(log, 1_000, () => now);
    for (let i = 0; i < 500; i++) limited.warn('origin', { i }, 'refused');
    limited.warn('per_address', { i: 0 }, 'refused too');
    expect(lines).toEqual([{ obj: { i: 0 }, msg: 'refused' }, { obj: { i: 0 }, msg: 'refused too' }]);
    now = 1_000;
    limited.warn('origin', { i: 500 }, 'refused');
    expect(lines[2]).toEqual({ obj: { i: 500, suppressed: 499 }, msg: 'refused' });
    now = 2_000;
    limited.warn('origin', { i: 501 }, 'refused');
    expect(lines[3]).toEqual({ obj: { i: 501 }, msg: 'refused' });
  });

  it('when nothing follows a burst, the count comes on a line of its own at the end of the interval', async () => {
    vi.useFakeTimers();
    const { log, lines } = recordingLogger();
    const limited = new RateLimitedLog(log, 1_000);
    for (let i = 0; i < 20_000; i++) limited.warn('peer|fnf', { route: 'nope', i }, 'fire-and-forget dropped');
    expect(lines).toEqual([{ obj: { route: 'nope', i: 0 }, msg: 'fire-and-forget dropped' }]);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(lines).toHaveLength(2);
    expect(lines[1]).toEqual({ obj: { route: 'nope', i: 19_999, suppressed: 19_999 }, msg: 'fire-and-forget dropped (19999 more like this within 1000 ms)' });
    // A new interval starts afresh: written at once again, and no count line without repeats.
    limited.warn('peer|fnf', { route: 'nope' }, 'fire-and-forget dropped');
    await vi.advanceTimersByTimeAsync(5_000);
    expect(lines).toHaveLength(3);
  });

  it("a call may name its own logger (a connection's child), used for its lines and its count", () => {
    const root = recordingLogger();
    const conn = recordingLogger();
    const limited = new RateLimitedLog(root.log);
    limited.warn('k', { a: 1 }, 'x', conn.log);
    limited.warn('k', { a: 2 }, 'x', conn.log);
    limited.flush();
    expect(root.lines).toEqual([]);
    expect(conn.lines).toEqual([
      { obj: { a: 1 }, msg: 'x' },
      { obj: { a: 2, suppressed: 1 }, msg: 'x (1 more like this within 10000 ms)' },
    ]);
  });

  it('peerHost drops the port', () => {
    expect(peerHost('127.0.0.2:5123')).toBe('127.0.0.2');
    expect(peerHost('::ffff:127.0.0.1:80')).toBe('::ffff:127.0.0.1');
    expect(peerHost('memory')).toBe('memory');
  });
});

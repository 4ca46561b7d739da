import { describe, expect, it } from 'vitest';
import { RateLimitedLog } from '../../src/observability/rate-limited-log.js';
import type { Logger } from '../../src/observability/log.js';

function recordingLogger() {
  const lines: Array<{ obj: object; msg?: string | undefined }> = [];
  const log: Logger = { debug() {}, info() {}, error() {}, warn: (obj, msg) => lines.push({ obj, msg }), child: () => log };
  return { log, lines };
}

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
});

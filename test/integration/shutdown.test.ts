/** Graceful shutdown: stop accepting, let in-flight work finish within the drain time, then close. */
import { describe, expect, it } from 'vitest';
import { jsonPayload, recorder, useHarness, json } from '../helpers/harness.js';

const h = useHarness();

describe('gateway shutdown', () => {
  it('drains: in-flight streams finish, new requests get UNAVAILABLE, then connections close', async () => {
    const gw = await h.gateway({ drainTimeoutMs: 10_000 });
    await h.service({ url: gw.url, service: 'bench' });
    const conn = await h.raw(gw.url);
    const rec = recorder();
    const stream = conn.requestStream(jsonPayload('bench.source', { count: 20 }), 5, rec.handler);
    await rec.received(5);
    let closed = false;
    const closing = gw.close().then(() => (closed = true));
    const refused = recorder();
    conn.requestResponse(jsonPayload('bench.echo', 1), refused.handler);
    const r = await refused.ended;
    expect(r.error.code).toBe('UNAVAILABLE');
    expect(r.error.message).toContain('draining');
    // Routes served inside the gateway refuse new work too.
    const stats = recorder();
    conn.requestStream(jsonPayload('sluice.stats', {}), 1, stats.handler);
    expect((await stats.ended).error.code).toBe('UNAVAILABLE');
    expect(closed).toBe(false);
    stream.request(15);
    const end = await rec.ended;
    expect(end.error).toBeUndefined();
    expect(rec.items.map((p) => json(p).seq)).toEqual([...Array(20).keys()]);
    await closing;
    await new Promise<void>((resolve) => conn.onClose(() => resolve()));
    expect(conn.isOpen).toBe(false);
  });

  it('closes after the drain timeout even when a stream never finishes', async () => {
    const gw = await h.gateway({ drainTimeoutMs: 300 });
    await h.service({ url: gw.url, service: 'bench' });
    const conn = await h.raw(gw.url);
    const rec = recorder();
    conn.requestStream(jsonPayload('bench.source', {}), 1, rec.handler);
    await rec.received(1);
    await gw.close();
    const end = await rec.ended;
    expect(end.error.code).toBe('UNAVAILABLE');
  });
});

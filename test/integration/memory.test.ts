/**
 * What peers make the gateway hold is bounded over the whole gateway, through
 * real sockets: unfinished fragments time out, the biggest holders are shed
 * at the memory budget with a coded error while others keep working, a
 * reader of large items is paced instead of cut off, and a flood of warnings
 * from one peer is a bounded number of log lines that state the count.
 */
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { createGateway } from '../../src/gateway.js';
import { encodePayloadFrame } from '../../src/protocol/codec.js';
import { Flags, FrameType } from '../../src/protocol/frames.js';
import { routeMetadata } from '../../src/protocol/metadata.js';
import { encodeJson } from '../../src/protocol/json.js';
import { eventually, json, jsonPayload, metricsText, metricValue, recorder, useHarness } from '../helpers/harness.js';
import { rawSocket, setupFrame } from '../helpers/raw-socket.js';

const h = useHarness();

/** The first fragment of a request-response to bench.echo, with `bytes` of data, FOLLOWS set. */
function firstFragment(streamId: number, bytes: number): Uint8Array {
  return encodePayloadFrame(FrameType.REQUEST_RESPONSE, streamId, Flags.FOLLOWS, { metadata: routeMetadata('bench.echo'), data: new Uint8Array(bytes).fill(0x20) });
}

async function echoes(url: string): Promise<boolean> {
  const client = await h.client(url);
  const reply = await client.requestResponse('bench.echo', { ping: 1 });
  return (reply as { ping: number }).ping === 1;
}

describe('fragments', () => {
  it('a fragmented request never finished ends with FRAGMENT_TIMEOUT and its bytes are freed', async () => {
    const gw = await h.gateway({ limits: { fragmentTimeoutMs: 300 } });
    await h.service({ url: gw.url, service: 'bench' });
    const peer = rawSocket(gw.url);
    await peer.opened;
    peer.ws.send(setupFrame());
    peer.ws.send(firstFragment(1, 10_000));
    await eventually(async () => (metricValue(await metricsText(gw), 'sluice_memory_used_bytes', { kind: 'reassembly' }) ?? 0) > 10_000, 'the fragment (data and metadata) to be counted');
    await peer.errorsMatch((e) => e.length === 1);
    expect(peer.errors[0]).toMatchObject({ streamId: 1, code: 0x204 });
    expect(peer.errors[0]!.message).toBe('FRAGMENT_TIMEOUT: stream 1: fragmented payload not completed within 300 ms; its fragments were dropped');
    expect(metricValue(await metricsText(gw), 'sluice_memory_used_bytes', { kind: 'reassembly' })).toBe(0);
    expect(await echoes(gw.url)).toBe(true);
  });

  it('at the memory budget the connection holding the most fragments has them dropped with OVERLOADED; others go on', async () => {
    const gw = await h.gateway({ limits: { memoryBudgetBytes: 1024 * 1024 } });
    await h.service({ url: gw.url, service: 'bench' });
    const modest = rawSocket(gw.url);
    const greedy = rawSocket(gw.url);
    await Promise.all([modest.opened, greedy.opened]);
    modest.ws.send(setupFrame());
    greedy.ws.send(setupFrame());
    modest.ws.send(firstFragment(1, 100_000));
    await eventually(async () => (metricValue(await metricsText(gw), 'sluice_memory_used_bytes', { kind: 'reassembly' }) ?? 0) > 100_000, 'the modest fragment to be counted');
    for (let i = 0; i < 30; i++) greedy.ws.send(firstFragment(1 + 2 * i, 40_000));
    await greedy.errorsMatch((e) => e.length > 0);
    expect(new Set(greedy.errors.map((e) => e.message.split(':')[0]))).toEqual(new Set(['OVERLOADED']));
    expect(greedy.errors[0]!.message).toMatch(/gateway memory budget: .* the largest holder was this connection's unfinished fragmented payloads/);
    const metrics = await metricsText(gw);
    expect(metricValue(metrics, 'sluice_memory_shed_total', { kind: 'reassembly' })).toBeGreaterThanOrEqual(1);
    // The modest connection's fragment is still there and completes.
    modest.ws.send(encodePayloadFrame(FrameType.PAYLOAD, 1, Flags.NEXT, { metadata: null, data: encodeJson('') }));
    expect(modest.errors).toEqual([]);
    expect(await echoes(gw.url)).toBe(true);
  });
});

describe('slow readers', () => {
  it('at the memory budget the connection with the most unread bytes is closed with SLOW_CONSUMER; others go on', async () => {
    const gw = await h.gateway({ limits: { memoryBudgetBytes: 2 * 1024 * 1024 } });
    await h.service({ url: gw.url, service: 'bench' });
    const conn = await h.raw(gw.url);
    const rec = recorder();
    // Each stream may have its window (2 items of 256 KiB) on the way when the socket stops taking bytes: together, over the budget.
    for (let i = 0; i < 4; i++) conn.requestStream(jsonPayload('bench.source', { size: 256 * 1024 }), 0x7fffffff, rec.handler);
    await rec.received(4);
    (conn as unknown as { transport: { socket: { pause(): void } } }).transport.socket.pause();
    await eventually(async () => (metricValue(await metricsText(gw), 'sluice_memory_shed_total', { kind: 'outbound' }) ?? 0) >= 1, 'the stalled reader to be shed', 400);
    // The reader does not read, so it cannot see its own close: the gateway's count shows it.
    await eventually(async () => metricValue(await metricsText(gw), 'sluice_connections', { role: 'client' }) === 0, 'the gateway to close the stalled reader');
    expect(await echoes(gw.url)).toBe(true);
  });

  it('a reader taking 4 MiB/s of 64 KiB items is paced, not cut off', async () => {
    const gw = await h.gateway();
    await h.service({ url: gw.url, service: 'bench' });
    const conn = await h.raw(gw.url);
    const rec = recorder();
    // It asks for far more than it reads: the gateway must pace the producer by what the socket takes.
    conn.requestStream(jsonPayload('bench.source', { size: 64 * 1024 }), 256, rec.handler);
    await rec.received(1);
    const socket = (conn as unknown as { transport: { socket: NodeJS.ReadableStream & { pause(): void; resume(): void } } }).transport.socket;
    // Reads at most 200 KiB every 50 ms (4 MiB/s), for 3 s.
    let budget = 0;
    socket.on('data', (chunk: Buffer) => {
      budget -= chunk.length;
      if (budget <= 0) socket.pause();
    });
    socket.pause();
    const tick = setInterval(() => {
      budget = Math.min(budget + 200 * 1024, 200 * 1024);
      if (budget > 0) socket.resume();
    }, 50);
    h.onCleanup(() => clearInterval(tick));
    const until = Date.now() + 3_000;
    let maxBuffered = 0;
    await eventually(
      async () => {
        maxBuffered = Math.max(maxBuffered, metricValue(await metricsText(gw), 'sluice_outbound_buffered_bytes') ?? 0);
        return Date.now() >= until || !conn.isOpen;
      },
      '3 s of reading',
      400,
      50,
    );
    clearInterval(tick);
    expect(conn.isOpen).toBe(true);
    expect(rec.items.length).toBeGreaterThan(20);
    expect(json<{ seq: number }>(rec.items.at(-1)!).seq).toBe(rec.items.length - 1);
    // Paced: what waits at the gateway stays near the high water mark, far from the 16 MiB hard limit.
    expect(maxBuffered).toBeLessThan(4 * 1024 * 1024);
  });
});

describe('log floods', () => {
  it('20,000 fire-and-forget frames to an unknown route are counted in full and logged in a few lines that state the count', async () => {
    const lines: Array<{ msg: string; suppressed?: number; route?: string; code?: string }> = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        for (const line of chunk.toString().split('\n')) if (line) lines.push(JSON.parse(line));
        done();
      },
    });
    const gw = await createGateway({ listen: { port: 0 }, admin: { port: 0 }, drainTimeoutMs: 0 }, { logger: pino({ level: 'warn' }, sink) });
    let closed = false;
    h.onCleanup(() => (closed ? undefined : gw.close()));
    const conn = await h.raw(gw.url);
    const payload = { data: encodeJson({}), metadata: routeMetadata('no.such.route') };
    for (let i = 0; i < 20_000; i++) conn.fireAndForget(payload);
    await eventually(async () => metricValue(await metricsText(gw), 'sluice_errors_total', { route: '(unknown)', code: 'NO_ROUTE' }) === 20_000, 'every frame to be counted', 400);
    await gw.close();
    closed = true;
    const dropped = lines.filter((l) => l.msg.startsWith('fire-and-forget dropped'));
    expect(dropped.length).toBeGreaterThanOrEqual(2);
    expect(dropped.length).toBeLessThanOrEqual(4);
    expect(dropped.reduce((n, l) => n + (l.suppressed ?? 1), 0)).toBe(20_000);
    expect(dropped.at(-1)!.msg).toMatch(/^fire-and-forget dropped \(\d+ more like this within 10000 ms\)$/);
    expect(lines.length).toBeLessThan(20);
  });
});

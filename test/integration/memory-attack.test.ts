/**
 * The gateway's memory under attack, in its own process: 100 connections
 * each of three kinds (fragments never finished, slow readers of 64 KiB
 * items, SETUPs followed by silence) keep its resident memory within 128 MiB
 * of its baseline, with its default limits, while a legitimate client's echo
 * keeps working. Attackers run here, on loopback, bounded in count and time.
 */
import { describe, expect, it } from 'vitest';
import { startChild } from '../../examples/checkout/src/supervisor.js';
import { encodePayloadFrame } from '../../src/protocol/codec.js';
import { Flags, FrameType } from '../../src/protocol/frames.js';
import { routeMetadata } from '../../src/protocol/metadata.js';
import { eventually, jsonPayload, metricValue, recorder, useHarness } from '../helpers/harness.js';
import { rawSocket, setupFrame, type RawSocket } from '../helpers/raw-socket.js';

const h = useHarness();
const MiB = 1024 * 1024;
const ATTACKERS = 100;

async function rss(adminUrl: string): Promise<number> {
  const text = await (await fetch(`${adminUrl}/metrics`)).text();
  return metricValue(text, 'sluice_process_resident_memory_bytes')!;
}

describe('memory under attack (gateway in a child process)', () => {
  it(`${ATTACKERS} connections each of unfinished fragments, slow readers and idle SETUPs keep RSS within 128 MiB of baseline; echo keeps working`, { timeout: 90_000 }, async () => {
    const gateway = startChild({ name: 'gateway', args: ['gateway', '--port', '0', '--admin-port', '0'], env: { SLUICE_LOG_LEVEL: 'error' } }, 'ignore');
    h.onCleanup(() => gateway.stop(5_000));
    const { url, adminUrl } = await gateway.message<{ url: string; adminUrl: string }>('listening', 30_000);
    await h.benchProcess(url, 'bench-1');
    const client = await h.client(url);
    for (let i = 0; i < 50; i++) await client.requestResponse('bench.echo', { warmup: i });
    const baseline = await rss(adminUrl);

    const sockets: RawSocket[] = [];
    h.onCleanup(() => sockets.forEach((s) => s.ws.terminate()));
    const open = async (): Promise<RawSocket> => {
      const s = rawSocket(url);
      sockets.push(s);
      await s.opened;
      s.ws.send(setupFrame(600_000));
      return s;
    };

    // Idle SETUPs: a SETUP asking for a 10-minute keepalive lifetime, then nothing.
    for (let i = 0; i < ATTACKERS; i++) await open();

    // Slow readers: 64 KiB items, a deep request, then the socket is no longer read.
    const readers = [];
    for (let i = 0; i < ATTACKERS; i++) {
      const conn = await h.raw(url);
      const rec = recorder();
      conn.requestStream(jsonPayload('bench.source', { size: 64 * 1024 }), 256, rec.handler);
      readers.push({ conn, rec });
    }
    await Promise.all(readers.map((r) => r.rec.received(1)));
    for (const r of readers) (r.conn as unknown as { transport: { socket: { pause(): void } } }).transport.socket.pause();

    // Unfinished fragments: 32 payloads per connection, 48 KiB each so far, never completed (150 MiB offered in all).
    const chunk = new Uint8Array(48 * 1024).fill(0x20);
    const metadata = routeMetadata('bench.echo');
    for (let i = 0; i < ATTACKERS; i++) {
      const s = await open();
      for (let k = 0; k < 32; k++) s.ws.send(encodePayloadFrame(FrameType.REQUEST_RESPONSE, 1 + 2 * k, Flags.FOLLOWS, { metadata, data: chunk }));
    }

    // For 4 s (and at least 5 echoes): the echo answers every time, and the gateway's RSS is sampled.
    let peak = baseline;
    let echoes = 0;
    const until = Date.now() + 4_000;
    await eventually(
      async () => {
        const reply = await client.requestResponse<{ n: number }>('bench.echo', { n: echoes });
        expect(reply.n).toBe(echoes);
        echoes++;
        peak = Math.max(peak, await rss(adminUrl));
        return Date.now() >= until && echoes >= 5;
      },
      '4 s of echoes under attack',
      1_000,
      50,
    );
    const text = await (await fetch(`${adminUrl}/metrics`)).text();
    const shed = (kind: string) => metricValue(text, 'sluice_memory_shed_total', { kind }) ?? 0;
    console.log(
      `memory under attack: baseline ${(baseline / MiB).toFixed(1)} MiB, peak ${(peak / MiB).toFixed(1)} MiB (+${((peak - baseline) / MiB).toFixed(1)}), ` +
        `echoes ${echoes}, shed: outbound ${shed('outbound')}, reassembly ${shed('reassembly')}, prefetch ${shed('prefetch')}`,
    );
    expect(shed('outbound') + shed('reassembly')).toBeGreaterThan(0);
    expect(peak - baseline).toBeLessThan(128 * MiB);
    expect(metricValue(text, 'sluice_memory_used_bytes', { kind: 'reassembly' })! + metricValue(text, 'sluice_memory_used_bytes', { kind: 'outbound' })!).toBeLessThanOrEqual(
      metricValue(text, 'sluice_memory_budget_bytes')!,
    );
  });
});

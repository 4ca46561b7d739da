/**
 * The frame fuzzer of test/unit/fuzz-frames.test.ts against a real gateway
 * over real sockets, on a smaller sample: each case is a new WebSocket or TCP
 * connection that sends adversarial frames and then a KEEPALIVE. The
 * gateway process must neither crash nor wedge: the attacker's connection
 * answers the KEEPALIVE or is closed with a documented connection-level code,
 * a bystander's echo keeps working after every case, and once the attackers
 * are gone nothing they opened is still held.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SluiceError } from '../../src/errors.js';
import { decodeFrame, encodeKeepAlive, encodeSetup } from '../../src/protocol/codec.js';
import { Flags, FrameType, type Frame } from '../../src/protocol/frames.js';
import { MimeTypes } from '../../src/protocol/metadata.js';
import type { FrameTransport } from '../../src/rsocket/transport.js';
import { nodeTransport } from '../../src/transport/client-transport.js';
import { trackEscapes } from '../helpers/escapes.js';
import { adversarialFrames, CONNECTION_WIRE_CODES } from '../helpers/fuzz-frames.js';
import { eventually, metricValue, metricsText, useHarness } from '../helpers/harness.js';

const h = useHarness();
const { escaped } = trackEscapes();

const SETUP = encodeSetup({ metadataMimeType: MimeTypes.COMPOSITE, dataMimeType: MimeTypes.JSON, keepAlive: 30_000, lifetime: 90_000 });
/** Longest wait for the gateway's answer to the closing KEEPALIVE; past it the connection counts as wedged. */
const ANSWER_WITHIN_MS = 5_000;

interface Outcome {
  closed: boolean;
  frames: Frame[];
}

/** One attacker connection: SETUP (or not), the frames, a KEEPALIVE; resolves once answered or closed. */
async function attack(url: string, setupFirst: boolean, frames: Uint8Array[]): Promise<Outcome> {
  const transport: FrameTransport = await nodeTransport(url);
  const received: Frame[] = [];
  let sentKeepAlive = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const outcome = new Promise<Outcome>((resolve, reject) => {
    transport.start({
      onFrame(bytes) {
        let frame: Frame;
        try {
          frame = decodeFrame(bytes);
        } catch (err) {
          reject(new Error(`the gateway sent a frame that does not decode: ${(err as Error).message}`));
          return;
        }
        received.push(frame);
        if (sentKeepAlive && frame.type === FrameType.KEEPALIVE && (frame.flags & Flags.RESPOND) === 0) resolve({ closed: false, frames: received });
      },
      onInvalid: (reason) => reject(new Error(`the gateway sent something that is not a frame: ${reason}`)),
      onDrain() {},
      onClose: () => resolve({ closed: true, frames: received }),
    });
    timer = setTimeout(() => reject(new Error(`no KEEPALIVE answer nor close within ${ANSWER_WITHIN_MS} ms: the connection is wedged`)), ANSWER_WITHIN_MS);
  });
  try {
    if (setupFirst) transport.send(SETUP);
    for (const f of frames) transport.send(f);
    sentKeepAlive = true;
    transport.send(encodeKeepAlive(true, 0));
    return await outcome;
  } finally {
    clearTimeout(timer);
    transport.close();
  }
}

describe('a real gateway fed adversarial frames over real sockets', () => {
  it('WebSocket and TCP: never crashes or wedges, only the offending connection ends, nothing is left behind', async () => {
    const gw = await h.gateway({ listen: { tcpPort: 0 }, limits: { maxStreamsPerConnection: 16 } });
    await h.service({ url: gw.url, service: 'bench' });
    const bystander = await h.client(gw.url);
    const urls = [gw.url, `tcp://127.0.0.1:${gw.tcp!.port}`];
    const counts = { closed: 0, alive: 0 };
    let run = 0;
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...urls), fc.boolean(), adversarialFrames({ route: 'bench.echo', maxLength: 8 }), async (url, setupFirst, frames) => {
        const { closed, frames: received } = await attack(url, setupFirst, frames);
        counts[closed ? 'closed' : 'alive']++;
        for (const f of received) {
          if (f.type !== FrameType.ERROR) continue;
          if (f.streamId === 0) expect(CONNECTION_WIRE_CODES).toContain(f.code);
          else expect(f.code).toBeGreaterThanOrEqual(0x201);
        }
        expect(await bystander.requestResponse('bench.echo', ++run)).toBe(run);
        expect(escaped).toEqual([]);
      }),
      { numRuns: 500 },
    );
    expect(counts.alive).toBeGreaterThan(0);
    expect(counts.closed).toBeGreaterThan(0);

    // Every attacker is gone: only the bystander's connection and the service's remain, holding nothing.
    await eventually(async () => metricValue(await metricsText(gw), 'sluice_connections', { role: 'client' }) === 1, 'attacker connections to close');
    await eventually(() => [...gw.policies.all()].every((rt) => rt.bulkhead.active === 0 && rt.bulkhead.queued === 0 && rt.share.identities === 0), 'route slots to be released');
    const text = await metricsText(gw);
    expect(text.split('\n').filter((l) => l.startsWith('sluice_streams_active{') && !l.endsWith(' 0'))).toEqual([]);
    const err = await bystander.requestResponse('no.such.route', {}).catch((e: unknown) => e);
    expect((err as SluiceError).code).toBe('NO_ROUTE');
  }, 120_000);
});

/**
 * Property-based fuzzing of the gateway's frame handling on in-memory
 * transports: an attacker's connection is fed arbitrary bytes and
 * structurally valid but adversarial frames (wrong stream ids, REQUEST_N 0,
 * lengths past the end, fragments interleaved across streams, frames before
 * SETUP, a second SETUP). Whatever it sends, nothing escapes to the process,
 * its connection either still answers a KEEPALIVE or was closed with a
 * documented connection-level code, nothing it opened is left behind once it
 * goes, and a well-behaved client's echo keeps working. fast-check prints
 * the seed and the shrunk counterexample of any failure.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { encodeKeepAlive, encodePayloadFrame, encodeSetup } from '../../src/protocol/codec.js';
import { Flags, FrameType, type Frame } from '../../src/protocol/frames.js';
import { MimeTypes, encodeComposite, encodeRoutes } from '../../src/protocol/metadata.js';
import { deadlineEntry } from '../../src/resilience/deadline.js';
import { isErrorCode } from '../../src/errors.js';
import { events, memoryGateway, request } from '../helpers/memory-gateway.js';
import { memoryPair, rawPeer, settle } from '../helpers/memory-transport.js';
import { trackEscapes } from '../helpers/escapes.js';
import { adversarialFrames, CONNECTION_WIRE_CODES } from '../helpers/fuzz-frames.js';

const { escaped } = trackEscapes();

const MIME = { metadataMimeType: MimeTypes.COMPOSITE, dataMimeType: MimeTypes.JSON };
const SETUP = encodeSetup({ ...MIME, keepAlive: 30_000, lifetime: 90_000 });

/**
 * A gateway of its own for each case, so a case that leaks fails alone and
 * fast-check shrinks it to the frames that leak. Echo answers
 * request-response; streams and channels complete at once.
 */
async function freshGateway() {
  const g = memoryGateway({ limits: { maxInboundStreams: 16 } });
  g.service('svc', 'svc-1', ['svc.echo'], (s) => {
    if (s.model === 'response') s.stream.next({ data: new TextEncoder().encode(s.data ?? 'null'), metadata: null }, true);
    else s.stream.complete();
  });
  const bystander = g.requester('bystander');
  await settle();
  const echoStillWorks = async (n: number): Promise<boolean> => {
    const got = events();
    bystander.connection.requestResponse(request('svc.echo', n), got);
    await settle();
    return got.events.length === 2 && got.events[0] === `next:${n}` && got.events[1] === 'complete';
  };
  return { g, echoStillWorks };
}

describe('an attacker connection fed adversarial frames', () => {
  /** One attacker: sends its frames, then a KEEPALIVE if still connected, and goes away. */
  async function attack(setupFirst: boolean, frames: Uint8Array[], run: number): Promise<void> {
    const { g, echoStillWorks } = await freshGateway();
    const [attackerEnd, serverEnd] = memoryPair();
    const server = g.attach(serverEnd);
    let closeCode: string | undefined;
    server.onClose((e) => (closeCode = e?.code));
    const attacker = rawPeer(attackerEnd);
    if (setupFirst) attacker.send(SETUP);
    for (const f of frames) attacker.send(f);
    await settle();
    if (!attacker.closed) {
      attacker.take();
      attacker.send(encodeKeepAlive(true, 0));
      await settle();
    }
    const received: Frame[] = attacker.frames;
    if (attacker.closed || !server.isOpen) {
      // Closed: any ERROR on stream 0 carries a connection-level code, and the reason is a documented code.
      for (const f of received) if (f.type === FrameType.ERROR && f.streamId === 0) expect(CONNECTION_WIRE_CODES).toContain(f.code);
      if (closeCode !== undefined) expect(isErrorCode(closeCode)).toBe(true);
      outcomes.closed++;
    } else {
      expect(received.some((f) => f.type === FrameType.KEEPALIVE && f.streamId === 0 && (f.flags & Flags.RESPOND) === 0)).toBe(true);
      outcomes.alive++;
    }
    // Errors on streams carry stream-level codes: only the offending stream ended.
    for (const f of received) if (f.type === FrameType.ERROR && f.streamId !== 0) expect(f.code).toBeGreaterThanOrEqual(0x201);
    attackerEnd.close();
    await settle();
    expect(server.isOpen).toBe(false);
    expect(await echoStillWorks(run)).toBe(true);
    expect(g.leftovers()).toEqual({ live: 0, instanceActive: 0, routeActive: 0, bulkheadActive: 0, bulkheadQueued: 0, shareHolders: 0, prefetchHeldBytes: 0 });
    expect(escaped).toEqual([]);
    g.close();
  }
  const outcomes = { closed: 0, alive: 0 };
  let run = 0;

  it('well-formed frames in adversarial sequences after SETUP: never throws, never wedges, leaves nothing behind, disturbs no one', async () => {
    outcomes.closed = outcomes.alive = 0;
    await fc.assert(
      fc.asyncProperty(adversarialFrames({ route: 'svc.echo', structural: true }), (frames) => attack(true, frames, ++run)),
      { numRuns: 1_500 },
    );
    // The sample must exercise both outcomes, or the property proves little about one of them.
    expect(outcomes.alive).toBeGreaterThan(150);
    expect(outcomes.closed).toBeGreaterThan(150);
  }, 120_000);

  it('any bytes, truncated frames, lying lengths, frames before SETUP: the same', async () => {
    outcomes.closed = outcomes.alive = 0;
    await fc.assert(
      fc.asyncProperty(fc.boolean(), adversarialFrames({ route: 'svc.echo', maxLength: 6 }), (setupFirst, frames) => attack(setupFirst, frames, ++run)),
      { numRuns: 1_000 },
    );
    expect(outcomes.alive).toBeGreaterThan(30);
  }, 120_000);

  it('a valid request between garbage still gets its answer when the garbage does not end the connection', async () => {
    // The deterministic companion of the property: fragments interleaved with a complete request.
    const { g } = await freshGateway();
    const [attackerEnd, serverEnd] = memoryPair();
    g.attach(serverEnd);
    const attacker = rawPeer(attackerEnd);
    attacker.send(SETUP);
    const metadata = encodeComposite([{ mimeType: MimeTypes.ROUTING, content: encodeRoutes('svc.echo') }, deadlineEntry(60_000)]);
    const data = new TextEncoder().encode('"hello"');
    // Stream 1 opens with FOLLOWS; stream 3 is a whole request; stream 1's fragment completes it.
    attacker.send(encodePayloadFrame(FrameType.REQUEST_RESPONSE, 1, Flags.FOLLOWS, { metadata, data: data.subarray(0, 3) }));
    attacker.send(encodePayloadFrame(FrameType.REQUEST_RESPONSE, 3, 0, { metadata, data }));
    attacker.send(encodePayloadFrame(FrameType.PAYLOAD, 1, Flags.NEXT, { metadata: null, data: data.subarray(3) }));
    await settle();
    const answers = attacker.frames.filter((f) => f.type === FrameType.PAYLOAD).map((f) => f.streamId).sort();
    expect(answers).toEqual([1, 3]);
    attackerEnd.close();
    await settle();
    expect(escaped).toEqual([]);
    g.close();
  });
});

/**
 * Finding: one client could take every connection slot (10,100 connections
 * sending one SETUP and then nothing), locking out new clients and
 * re-registering services for up to 10 minutes. Now: each remote address
 * holds at most limits.maxConnectionsPerAddress sockets, a share of the
 * slots is kept for connections that register a service, and clients that
 * do nothing (no stream, or no frame at all) give their slot back.
 *
 * Attackers bind 127.0.0.2 so the legitimate peers on 127.0.0.1 are another
 * address; every count here is small and configured.
 */
import { connect as tcpConnect } from 'node:net';
import { describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { decodeFrame, encodeKeepAlive, encodeSetup } from '../../src/protocol/codec.js';
import { FrameType, type Frame } from '../../src/protocol/frames.js';
import { MimeTypes, encodeComposite } from '../../src/protocol/metadata.js';
import { registrationEntry } from '../../src/protocol/registration.js';
import { SluiceError } from '../../src/errors.js';
import type { ConnectionStatus } from '../../clients/node/index.js';
import { eventually, jsonPayload, metricValue, metricsText, recorder, useHarness } from '../helpers/harness.js';

const h = useHarness();
const ATTACKER = '127.0.0.2';

interface RawPeer {
  ws: WebSocket;
  frames: Frame[];
  closed: Promise<void>;
  /** 'accepted' once the gateway answered the KEEPALIVE sent after SETUP, or the ERROR that refused the SETUP. */
  outcome: 'accepted' | Frame;
}

/**
 * A bare WebSocket peer that sends SETUP (asking a 10-minute keepalive
 * lifetime, as the attack did), one KEEPALIVE asking for an answer, and then
 * nothing. Resolves with the HTTP status when the upgrade is refused.
 */
async function setupOnly(url: string, options: { localAddress?: string; registers?: string } = {}): Promise<RawPeer | number> {
  const ws = new WebSocket(url, options.localAddress ? { localAddress: options.localAddress } : {});
  h.onCleanup(() => ws.terminate());
  const frames: Frame[] = [];
  const closed = new Promise<void>((resolve) => ws.once('close', () => resolve()));
  const status = await new Promise<'open' | number>((resolve, reject) => {
    ws.once('open', () => resolve('open'));
    ws.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
    ws.once('error', reject);
  });
  if (status !== 'open') return status;
  const first = new Promise<Frame>((resolve) =>
    ws.on('message', (data: Buffer) => {
      const f = decodeFrame(new Uint8Array(data));
      frames.push(f);
      resolve(f);
    }),
  );
  const metadata = options.registers ? encodeComposite([registrationEntry({ service: options.registers, instance: `${options.registers}-1`, routes: [`${options.registers}.x`] })]) : null;
  ws.send(encodeSetup({ keepAlive: 600_000, lifetime: 600_000, metadataMimeType: MimeTypes.COMPOSITE, dataMimeType: MimeTypes.JSON, metadata }));
  ws.send(encodeKeepAlive(true, 0));
  const f = await first;
  return { ws, frames, closed, outcome: f.type === FrameType.KEEPALIVE ? 'accepted' : f };
}

function peer(p: RawPeer | number): RawPeer {
  if (typeof p === 'number') throw new Error(`upgrade refused with HTTP ${p}`);
  return p;
}

/** A TCP socket from `localAddress`: resolves 'closed' when the gateway closes it before any byte, 'open' if it is still open after a round trip of SETUP + KEEPALIVE. */
function tcpPeer(port: number, localAddress: string): Promise<'closed' | 'open'> {
  return new Promise((resolve) => {
    const socket = tcpConnect({ host: '127.0.0.1', port, localAddress });
    h.onCleanup(() => socket.destroy());
    socket.on('error', () => {});
    socket.once('close', () => resolve('closed'));
    socket.once('connect', () => {
      const setup = encodeSetup({ keepAlive: 600_000, lifetime: 600_000, metadataMimeType: MimeTypes.COMPOSITE, dataMimeType: MimeTypes.JSON });
      const ka = encodeKeepAlive(true, 0);
      for (const f of [setup, ka]) socket.write(Buffer.concat([Buffer.from([(f.length >>> 16) & 0xff, (f.length >>> 8) & 0xff, f.length & 0xff]), f]));
    });
    socket.once('data', () => resolve('open'));
  });
}

describe('connections per remote address', () => {
  it('an address over limits.maxConnectionsPerAddress gets HTTP 503 (WebSocket) or a closed socket (TCP); other addresses connect; a closed slot is free again', async () => {
    const gw = await h.gateway({ listen: { tcpPort: 0 }, limits: { maxConnectionsPerAddress: 5 } });
    await h.service({ url: gw.url, service: 'bench' });
    const held: RawPeer[] = [];
    for (let i = 0; i < 5; i++) held.push(peer(await setupOnly(gw.url, { localAddress: ATTACKER })));
    expect(held.every((p) => p.outcome === 'accepted')).toBe(true);
    expect(await setupOnly(gw.url, { localAddress: ATTACKER })).toBe(503);
    expect(await tcpPeer(gw.tcp!.port, ATTACKER)).toBe('closed');

    // The legitimate client on 127.0.0.1 is another address: unaffected, over WebSocket and TCP.
    const client = await h.client(gw.url);
    expect(await client.requestResponse('bench.echo', { ok: 1 })).toEqual({ ok: 1 });
    const tcpClient = await h.client(`tcp://127.0.0.1:${gw.tcp!.port}`);
    expect(await tcpClient.requestResponse('bench.echo', { ok: 2 })).toEqual({ ok: 2 });

    const text = await metricsText(gw);
    expect(metricValue(text, 'sluice_connections_refused_total', { reason: 'per_address' })).toBe(2);
    expect(metricValue(text, 'sluice_connections_refused_total', { reason: 'max_connections' })).toBe(0);

    held[0]!.ws.close();
    await held[0]!.closed;
    await eventually(async () => {
      const p = await setupOnly(gw.url, { localAddress: ATTACKER });
      return typeof p !== 'number' && p.outcome === 'accepted';
    }, 'a slot of the attacker address to free up', 40);
  });
});

describe('room reserved for services', () => {
  it('with clients holding their whole share, a SETUP-only client is refused (OVERLOADED on REJECTED_SETUP) while a service still registers and serves', async () => {
    // 60 slots, 6 kept for services: clients may hold 54.
    const gw = await h.gateway({ limits: { maxConnections: 60, serviceReserveRatio: 0.1, maxConnectionsPerAddress: 100 } });
    const idle: RawPeer[] = [];
    for (let batch = 0; batch < 54; batch += 18) {
      idle.push(...(await Promise.all(Array.from({ length: 18 }, () => setupOnly(gw.url, { localAddress: ATTACKER }).then(peer)))));
    }
    expect(idle.filter((p) => p.outcome === 'accepted')).toHaveLength(54);

    const refused = peer(await setupOnly(gw.url, { localAddress: ATTACKER }));
    expect(refused.outcome).toMatchObject({ type: FrameType.ERROR, streamId: 0, code: 0x003 });
    expect((refused.outcome as Frame & { message: string }).message).toMatch(/^OVERLOADED: the gateway is full for clients \(54 client connections, the most it takes; 6 more are kept for services\); retry later$/);
    await refused.closed;

    // A legitimate client from another address is refused too, with a clear, typed error (its share is full)...
    const err = await h.client(gw.url).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SluiceError);
    expect(err).toMatchObject({ code: 'OVERLOADED', message: expect.stringMatching(/full for clients/) });

    // ...but a service can still register, and serve (its own client calls through the gateway).
    const svc = await h.service({ url: gw.url, service: 'bench', instance: 'bench-1' });
    expect(gw.registry.routes()).toContain('bench.echo');
    expect(await svc.client.requestResponse('bench.echo', { via: 'service' })).toEqual({ via: 'service' });
    expect(metricValue(await metricsText(gw), 'sluice_connections_refused_total', { reason: 'client_share' })).toBe(2);

    // One client slot freed: a client gets in.
    idle[0]!.ws.close();
    await idle[0]!.closed;
    const client = await eventually(() => h.client(gw.url).catch(() => undefined), 'a client slot');
    expect(await client.requestResponse('bench.echo', { ok: 1 })).toEqual({ ok: 1 });
  });

  it('a client refused for a full share and reconnecting gets in once a slot frees (the refusal is not permanent)', async () => {
    const gw = await h.gateway({ limits: { maxConnections: 10, serviceReserveRatio: 0.5, maxConnectionsPerAddress: 100 } });
    await h.service({ url: gw.url, service: 'bench' });
    const idle: RawPeer[] = [];
    for (let i = 0; i < 5; i++) idle.push(peer(await setupOnly(gw.url, { localAddress: ATTACKER })));
    const statuses: ConnectionStatus[] = [];
    const connecting = h.client(gw.url, { reconnect: { initialDelayMs: 20, maxDelayMs: 50 }, onStatus: (s) => statuses.push(s) });
    await eventually(async () => metricValue(await metricsText(gw), 'sluice_connections_refused_total', { reason: 'client_share' })! >= 1, 'a refusal');
    idle[0]!.ws.close();
    const client = await connecting;
    expect(await client.requestResponse('bench.echo', { ok: 1 })).toEqual({ ok: 1 });
    expect(statuses.some((s) => s.state === 'failed')).toBe(false);
  });
});

describe('clients that do nothing give their slot back', () => {
  it('a client with no stream open for limits.idleTimeoutMs is closed with CONNECTION_CLOSED; a client with a stream open and a service stay', async () => {
    const gw = await h.gateway({ limits: { idleTimeoutMs: 300 } });
    const svc = await h.service({ url: gw.url, service: 'bench' });
    const busy = await h.raw(gw.url);
    const rec = recorder();
    const stream = busy.requestStream(jsonPayload('bench.source', {}), 1, rec.handler);
    await rec.received(1);

    const idleClosed = async (): Promise<SluiceError | undefined> => {
      let resolveClose!: (e: SluiceError | undefined) => void;
      const closed = new Promise<SluiceError | undefined>((r) => (resolveClose = r));
      await h.client(gw.url, { onStatus: (s) => s.state === 'disconnected' && resolveClose(s.error) });
      return closed;
    };
    // Two idle clients in a row, each cut after the idle timeout: the busy one outlives both.
    for (let i = 0; i < 2; i++) {
      const error = await idleClosed();
      expect(error).toMatchObject({ code: 'CONNECTION_CLOSED', message: 'idle for 300 ms (no stream open, no request)' });
    }
    expect(busy.isOpen).toBe(true);
    stream.request(2);
    await rec.received(3);
    expect(svc.connected).toBe(true);
    expect(await svc.client.requestResponse('bench.echo', { still: 'here' })).toEqual({ still: 'here' });
  });

  it('a client asking a 10-minute keepalive lifetime and then silent is cut after keepAlive.maxClientLifetimeMs; a service is not', async () => {
    const gw = await h.gateway({ limits: { idleTimeoutMs: 0 }, keepAlive: { maxClientLifetimeMs: 300 } });
    const service = peer(await setupOnly(gw.url, { registers: 'quiet' }));
    expect(service.outcome).toBe('accepted');
    const client = peer(await setupOnly(gw.url));
    expect(client.outcome).toBe('accepted');
    await client.closed;
    expect(client.frames.at(-1)).toMatchObject({ type: FrameType.ERROR, streamId: 0, message: 'KEEPALIVE_TIMEOUT: no frame from the peer for 300 ms' });
    expect(service.ws.readyState).toBe(WebSocket.OPEN);
    expect(gw.registry.has('quiet.x')).toBe(true);
  });
});

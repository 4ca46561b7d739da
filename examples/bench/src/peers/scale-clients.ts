/**
 * One load generator of the scale scenario: a child process holding a share
 * of the client connections (all from one loopback source address, so the
 * gateway's per-address cap applies to it as to any host) and their
 * bench.source streams, each granted one item and then left open. A
 * process may hold only so many file descriptors, so the scenario runs
 * several of these; the parent drives each one over IPC: open the streams,
 * then check demand on a random sample (request(n) k times: exactly n items
 * each time, never more), then cancel the sample.
 */
import type { Duplex } from 'node:stream';
import { WebSocket } from 'ws';
import { establish } from '../../../../src/client/connector.js';
import { encodeJson } from '../../../../src/protocol/json.js';
import { routeMetadata } from '../../../../src/protocol/metadata.js';
import type { Connection } from '../../../../src/rsocket/connection.js';
import type { Stream, StreamHandler } from '../../../../src/rsocket/stream.js';
import type { SluiceError } from '../../../../src/errors.js';
import type { FrameTransport } from '../../../../src/rsocket/transport.js';
import { WebSocketTransport } from '../../../../src/transport/websocket-transport.js';
import { CLIENT_MAX_FRAME } from '../../../../src/transport/client-transport.js';

export interface ScaleClientsOptions {
  /** The gateway's ws:// URL (loopback). */
  readonly url: string;
  /** Loopback source address every connection binds (127.0.0.2, 127.0.0.3, ...). */
  readonly localAddress: string;
  readonly connections: number;
  /** bench.source streams in all, spread evenly over the connections. */
  readonly streams: number;
  /**
   * Called once when a connection ends that this client did not close (the
   * gateway closed it, or it was lost), with the cause: the scenario must
   * hear of it at once rather than wait out a step. Default: nothing.
   */
  readonly onLost?: (reason: string) => void;
}

/** What a demand check on a sample found. */
export interface SampleResult {
  /** Streams checked. */
  readonly streams: number;
  /** Streams that received exactly what they requested in every round, and nothing more after. */
  readonly exact: number;
  /** Streams that received more than requested (a DEMAND_EXCEEDED violation) or fewer, or ended. */
  readonly wrong: number;
  /** First few problems, in words. */
  readonly problems: readonly string[];
}

/** Ms a sampled stream may take to receive one round's items. */
const ROUND_TIMEOUT_MS = 60_000;
/** Connections opened at once. */
const CONNECT_BATCH = 50;
/**
 * Streams opening at once per load generator: one more opens as each gets its
 * first item. Enough to keep the gateway busy (300 in flight from fifteen
 * generators), few enough that each first item comes back well within the
 * breaker's slow-call time (2 s) even when the machine is busy: fifteen
 * generators bursting 2,000 each (and later 100 each, at a load average of
 * 20) made first items slow, and the breakers rightly opened on every instance.
 */
const OPENING_AT_ONCE = 20;

/** One open bench.source stream as this client sees it: items received, and a waiter for the next target. */
class ClientStream implements StreamHandler {
  stream!: Stream;
  received = 0;
  error: SluiceError | undefined;
  completed = false;
  private target = 0;
  private wake: (() => void) | undefined;

  /** Resolves once `received` reaches `target` (or the stream ends). */
  until(target: number): Promise<void> {
    if (this.received >= target || this.error || this.completed) return Promise.resolve();
    this.target = target;
    return new Promise((resolve) => (this.wake = resolve));
  }

  onNext(): void {
    this.received++;
    if (this.received >= this.target) this.fire();
  }
  onComplete(): void {
    this.completed = true;
    this.fire();
  }
  onError(error: SluiceError): void {
    this.error = error;
    this.fire();
  }
  onRequest(): void {}
  onCancel(): void {}

  private fire(): void {
    const w = this.wake;
    this.wake = undefined;
    w?.();
  }
}

export class ScaleClients {
  private readonly conns: Connection[] = [];
  private readonly streams: ClientStream[] = [];
  private closing = false;
  private lost = false;

  constructor(private readonly o: ScaleClientsOptions) {}

  /** Opens the connections; resolves with how many are open. */
  async connect(): Promise<number> {
    const transport = boundWebSocket(this.o.localAddress);
    for (let i = 0; i < this.o.connections; i += CONNECT_BATCH) {
      const batch = Math.min(CONNECT_BATCH, this.o.connections - i);
      // Keepalive as rare as the gateway lets a client be silent (keepAlive.maxClientLifetimeMs, 60 s).
      const opened = await Promise.all(Array.from({ length: batch }, () => establish(transport, { url: this.o.url, keepAlive: { intervalMs: 20_000, lifetimeMs: 60_000 } })));
      for (const conn of opened) conn.onClose((error) => this.onConnectionClosed(this.conns.indexOf(conn), error));
      this.conns.push(...opened);
    }
    return this.conns.length;
  }

  /**
   * Opens every connection's streams, one item of demand each, and waits for
   * each first item, at most OPENING_AT_ONCE waiting at a time. Streams go to
   * the connections in turn (each connection's first stream, then each one's
   * second, ...), so every connection is busy from the start. The first
   * stream refused or ended rejects, with its code and how many were open by then.
   */
  async openStreams(): Promise<number> {
    const route = routeMetadata('bench.source');
    const data = encodeJson({ size: 16 });
    const c = this.conns.length;
    const share = (j: number) => Math.floor(((j + 1) * this.o.streams) / c) - Math.floor((j * this.o.streams) / c);
    const all: Array<{ conn: Connection; s: ClientStream }> = [];
    for (let k = 0, more = true; more; k++) {
      more = false;
      this.conns.forEach((conn, j) => {
        if (k < share(j)) {
          all.push({ conn, s: new ClientStream() });
          more = true;
        }
      });
    }
    let next = 0;
    let bad: ClientStream | undefined;
    const opener = async () => {
      while (next < all.length && !bad) {
        const { conn, s } = all[next++]!;
        s.stream = conn.requestStream({ data, metadata: route }, 1, s);
        this.streams.push(s);
        await s.until(1);
        if (s.error || s.completed) bad ??= s;
      }
    };
    await Promise.all(Array.from({ length: Math.min(OPENING_AT_ONCE, all.length) }, opener));
    if (bad) {
      const open = this.streams.filter((s) => s.received > 0 && !s.error && !s.completed).length;
      const why = bad.error ? `${bad.error.code}: ${bad.error.message}` : 'it completed';
      throw new Error(`a bench.source stream was refused or ended while opening (${open} of ${all.length} open): ${why}`);
    }
    return this.streams.length;
  }

  /**
   * Picks `count` streams at random; each requests `n` items `rounds` times and
   * must receive exactly `n` each time. A payload beyond a stream's demand is a
   * DEMAND_EXCEEDED violation in the client's engine (the stream ends with it),
   * and one still on its way is caught by a ping round trip on each
   * connection after the last round: the gateway writes in order, so anything
   * it sent before the pong has arrived. Then the sample is cancelled.
   */
  async sample(count: number, n: number, rounds: number): Promise<SampleResult> {
    const picked = pickRandom(this.streams.length, Math.min(count, this.streams.length)).map((i) => this.streams[i]!);
    const problems: string[] = [];
    let exact = 0;
    await Promise.all(
      picked.map(async (s) => {
        for (let r = 1; r <= rounds; r++) {
          const target = 1 + n * r;
          s.stream.request(n);
          await withDeadline(s.until(target), ROUND_TIMEOUT_MS);
          if (s.received !== target) break;
        }
      }),
    );
    await Promise.all([...new Set(picked.map((s) => s.stream.host as unknown as Connection))].map((c) => c.ping()));
    const expected = 1 + n * rounds;
    for (const s of picked) {
      if (!s.error && !s.completed && s.received === expected) exact++;
      else if (problems.length < 5) problems.push(`received ${s.received} of ${expected}${s.error ? `, ended with ${s.error.code}: ${s.error.message}` : ''}${s.completed ? ', completed' : ''}`);
      if (!s.stream.closed) s.stream.cancel();
    }
    return { streams: picked.length, exact, wrong: picked.length - exact, problems };
  }

  close(): void {
    this.closing = true;
    for (const c of this.conns) c.close();
  }

  private onConnectionClosed(index: number, error: SluiceError | undefined): void {
    if (this.closing || this.lost) return;
    this.lost = true;
    this.o.onLost?.(`connection ${index} of ${this.conns.length} from ${this.o.localAddress} closed: ${error ? `${error.code}: ${error.message}` : 'no reason given'}`);
  }
}

/** A ws:// transport factory whose sockets bind `localAddress`. */
function boundWebSocket(localAddress: string): (url: string) => Promise<FrameTransport> {
  return (url) =>
    new Promise((resolve, reject) => {
      const ws = new WebSocket(url, { perMessageDeflate: false, maxPayload: CLIENT_MAX_FRAME, localAddress });
      let socket: Duplex | undefined;
      ws.once('error', reject);
      ws.once('upgrade', (res) => (socket = res.socket));
      ws.once('open', () => {
        ws.off('error', reject);
        resolve(new WebSocketTransport(ws, socket!, url));
      });
    });
}

/** `k` distinct indices below `n`, uniformly (partial Fisher-Yates over a sparse map). */
export function pickRandom(n: number, k: number, random: () => number = Math.random): number[] {
  const swapped = new Map<number, number>();
  const out: number[] = [];
  for (let i = 0; i < k; i++) {
    const j = i + Math.floor(random() * (n - i));
    const vj = swapped.get(j) ?? j;
    swapped.set(j, swapped.get(i) ?? i);
    out.push(vj);
  }
  return out;
}

function withDeadline(p: Promise<void>, ms: number): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  return Promise.race([p.finally(() => clearTimeout(timer)), new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)))]);
}

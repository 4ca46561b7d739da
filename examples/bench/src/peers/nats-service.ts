/**
 * The bench service's echo and source, served over core NATS with the
 * official client (nats.js), for the "peer a user would pick instead"
 * comparison. Same hop structure as Sluice: client -> nats-server -> this
 * service -> nats-server -> client.
 *
 * - `bench.echo`: request-reply; decodes and re-encodes the JSON like the
 *   Sluice bench service does.
 * - `bench.source`: a request `{"count","size"}` whose reply subject receives
 *   `count` items `{seq, requested, pad}`. Core NATS has no per-consumer
 *   demand: the service publishes as fast as the server takes it, flushing
 *   (one PING/PONG round trip) every `FLUSH_EVERY` messages so its own
 *   outbound buffer stays bounded, which is how nats.js publishers pace
 *   themselves.
 *
 * `nats` is a dev dependency: it is loaded only here, when the bench runs.
 */
import type { NatsConnection } from 'nats';
import { padFor } from './raw-ws.js';

/** Messages published between two flushes. */
export const FLUSH_EVERY = 1000;

/** Loads nats.js, or explains how to get it. */
export async function loadNats(): Promise<typeof import('nats')> {
  try {
    return await import('nats');
  } catch (err) {
    throw new Error(`the nats package is not installed (it is a dev dependency: run npm install): ${(err as Error).message}`);
  }
}

export interface NatsBenchService {
  close(): Promise<void>;
}

export async function startNatsService(server: string): Promise<NatsBenchService> {
  const nats = await loadNats();
  const nc: NatsConnection = await nats.connect({ servers: server, name: 'sluice-bench-nats-service' });
  const enc = new TextEncoder();
  const dec = new TextDecoder();
  nc.subscribe('bench.echo', {
    queue: 'bench',
    callback: (err, msg) => {
      if (err) return;
      msg.respond(enc.encode(JSON.stringify(JSON.parse(dec.decode(msg.data)))));
    },
  });
  nc.subscribe('bench.source', {
    queue: 'bench',
    callback: (err, msg) => {
      if (err || !msg.reply) return;
      const { count, size } = JSON.parse(dec.decode(msg.data)) as { count: number; size: number };
      const reply = msg.reply;
      const pad = padFor(size);
      void (async () => {
        for (let seq = 0; seq < count; seq++) {
          nc.publish(reply, enc.encode(`{"seq":${seq},"requested":${seq + 1},"pad":"${pad}"}`));
          if ((seq + 1) % FLUSH_EVERY === 0) await nc.flush();
        }
        await nc.flush();
      })().catch(() => {});
    },
  });
  await nc.flush();
  return {
    close: async () => {
      await nc.drain().catch(() => nc.close());
    },
  };
}

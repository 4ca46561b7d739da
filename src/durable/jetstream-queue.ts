/**
 * The NATS JetStream backend: several gateways share each durable route's
 * queue, and JetStream replicates it (`nats.replicas`, 3 in a 3-node
 * cluster). Per route:
 *
 * - a stream `<nats.streamPrefix>_<route, encoded>` on the one subject
 *   `<streamPrefix, lower case>.durable.<route>` (`SLUICE_checkout_2esubmit`
 *   on `sluice.durable.checkout.submit` by default), work-queue retention (an acked command is
 *   removed), file storage, `max_msgs`/`max_bytes` from the route's policy
 *   with new messages refused at the limit (OVERLOADED), and the duplicate
 *   window of the policy's `dedupeWindowMs`: the idempotency key travels as
 *   `Nats-Msg-Id`, so JetStream itself deduplicates;
 * - one durable pull consumer `sluice`, shared by every gateway, explicit
 *   acks. A pull fetches exactly the commands the route's instances may be
 *   sent now, so demand runs from the service through the gateway into
 *   JetStream; `max_ack_pending` bounds what all gateways together hold.
 *
 * Delivery counts are JetStream's; the dispatcher dead-letters at the
 * policy's `maxDeliveries` and terminates the message. A message's body is
 * the command's RSocket metadata and data: `u32 metadata length` (0xffffffff
 * for none), the metadata, then the data. (Headers cost the gateway a parse
 * per message; the idempotency key is the only one, as `Nats-Msg-Id`.)
 */
import { nanos } from '@nats-io/transport-node';
import type { Payload } from '../protocol/frames.js';
import { AckPolicy, DiscardPolicy, RetentionPolicy, StorageType, jetstream, jetstreamManager, type Consumer, type JetStreamManager, type JsMsg } from '@nats-io/jetstream';
import { SluiceError } from '../errors.js';
import type { GatewayConfig } from '../config.js';
import type { Logger } from '../observability/log.js';
import { connectNats } from '../fleet/nats-connection.js';
import { JetStreamPublisher } from './jetstream-publisher.js';
import type { Appended, Delivery, DurableBackend, DurableCommand, DurableQueue, QueueLimits, QueueStats } from './queue.js';

/** The durable consumer every gateway pulls from. */
export const CONSUMER = 'sluice';
/** The subject of a route's commands: `<prefix, lower case>.durable.<route>` (`sluice.durable.checkout.submit` by default). */
export function subjectOf(prefix: string, route: string): string {
  return `${prefix.toLowerCase()}.durable.${route}`;
}
const NO_METADATA = 0xffffffff;
/** Longest wait of one pull when nothing is ready, in ms. */
const FETCH_EXPIRES_MS = 5_000;
/** Commands all gateways together hold unacknowledged, per route. */
const MAX_ACK_PENDING = 10_000;
/** Longest wait for a JetStream API answer or a publish acknowledgement, in ms. */
const API_TIMEOUT_MS = 10_000;
/** PubAcks the gateway awaits at once over all its durable routes; beyond, a command is refused OVERLOADED. */
export const MAX_PENDING_PUBLISHES = 8_192;
/** JetStream's ack wait exceeds the gateway's ack timeout by this much, in ms: it redelivers only what a gateway that went away held. */
const ACK_WAIT_MARGIN_MS = 5_000;
/** How stale the depth and age read from the server may be, in ms. */
const STATS_TTL_MS = 1_000;

/** A route as a stream name: characters NATS does not allow in names become `_` and their hex code. */
export function streamName(prefix: string, route: string): string {
  return `${prefix}_${route.replace(/[^A-Za-z0-9-]/g, (c) => `_${c.charCodeAt(0).toString(16).padStart(2, '0')}`)}`;
}

/** The route of a durable route's stream; undefined for any other stream (the dead-letter queue's `<prefix>__DLQ` among them). */
export function routeOfStream(prefix: string, name: string): string | undefined {
  if (!name.startsWith(`${prefix}_`)) return undefined;
  const route = name.slice(prefix.length + 1).replace(/_([0-9a-f]{2})/g, (_, h: string) => String.fromCharCode(parseInt(h, 16)));
  return route.length > 0 && streamName(prefix, route) === name ? route : undefined;
}

class JetStreamQueue implements DurableQueue {
  private cached: QueueStats = { depth: 0, oldestAgeMs: 0 };
  private cachedAt = 0;
  private refreshing = false;

  constructor(
    readonly route: string,
    private readonly stream: string,
    private readonly publisher: JetStreamPublisher,
    private readonly jsm: JetStreamManager,
    private readonly consumer: Consumer,
    private readonly subject: string,
  ) {}

  async append(command: DurableCommand): Promise<Appended> {
    try {
      const ack = await this.publisher.publish(this.subject, encodeBody(command.payload), command.key);
      return { id: String(ack.seq), duplicate: ack.duplicate };
    } catch (err) {
      const e = SluiceError.from(err);
      if (e.code === 'OVERLOADED' && /maximum (messages|bytes)/i.test(e.message)) {
        throw new SluiceError('OVERLOADED', `durable route '${this.route}' holds its bound of commands (durable.maxMessages, durable.maxBytes); retry after 1000 ms`, { details: { retryAfterMs: 1_000 }, cause: err });
      }
      throw new SluiceError(e.code, `durable route '${this.route}': ${e.message}`, { cause: err, ...(e.details ? { details: e.details } : {}) });
    }
  }

  async pull(max: number, deliver: (d: Delivery) => void, signal: AbortSignal): Promise<void> {
    if (signal.aborted) return;
    const batch = await this.consumer.fetch({ max_messages: max, expires: FETCH_EXPIRES_MS });
    const stop = () => batch.stop();
    signal.addEventListener('abort', stop, { once: true });
    try {
      for await (const m of batch) deliver(this.delivery(m));
    } finally {
      signal.removeEventListener('abort', stop);
    }
  }

  stats(): QueueStats {
    if (Date.now() - this.cachedAt > STATS_TTL_MS && !this.refreshing) {
      this.refreshing = true;
      this.jsm.streams
        .info(this.stream)
        .then(
          (info) => {
            const first = info.state.messages > 0 ? Date.parse(info.state.first_ts) : NaN;
            this.cached = { depth: info.state.messages, oldestAgeMs: Number.isFinite(first) ? Math.max(0, Date.now() - first) : 0 };
            this.cachedAt = Date.now();
          },
          () => undefined,
        )
        .finally(() => (this.refreshing = false));
    }
    return this.cached;
  }

  async close(): Promise<void> {}

  private delivery(m: JsMsg): Delivery {
    return {
      id: String(m.seq),
      payload: decodeBody(m.data),
      key: m.headers?.get('Nats-Msg-Id') || undefined,
      deliveries: m.info.deliveryCount,
      enqueuedAt: m.time.getTime(),
      ack: () => m.ack(),
      nack: (delayMs) => m.nak(delayMs),
      term: () => m.term(),
    };
  }
}

function encodeBody(p: Payload): Uint8Array {
  const meta = p.metadata;
  const data = p.data ?? new Uint8Array(0);
  const body = new Uint8Array(4 + (meta?.length ?? 0) + data.length);
  new DataView(body.buffer).setUint32(0, meta ? meta.length : NO_METADATA);
  if (meta) body.set(meta, 4);
  body.set(data, 4 + (meta?.length ?? 0));
  return body;
}

function decodeBody(body: Uint8Array): Payload {
  if (body.length < 4) return { data: body, metadata: null };
  const n = new DataView(body.buffer, body.byteOffset, body.byteLength).getUint32(0);
  if (n === NO_METADATA) return { data: body.subarray(4), metadata: null };
  return { metadata: body.subarray(4, 4 + n), data: body.subarray(4 + n) };
}

/** Connects to NATS and returns the JetStream backend. Throws when no server answers. */
export async function openJetStreamBackend(options: GatewayConfig['nats'], log: Logger): Promise<DurableBackend> {
  const nc = await connectNats(options.servers, 'sluice-gateway', options);
  void (async () => {
    for await (const s of nc.status()) if (s.type === 'disconnect' || s.type === 'reconnect') log.warn({ nats: s.type, server: 'server' in s ? s.server : undefined }, 'NATS connection status');
  })();
  // JetStream API calls and publish acknowledgements wait this long: a cluster electing a leader takes seconds.
  const jsm = await jetstreamManager(nc, { timeout: API_TIMEOUT_MS });
  const js = jetstream(nc, { timeout: API_TIMEOUT_MS });
  const publisher = new JetStreamPublisher(nc, { timeoutMs: API_TIMEOUT_MS, maxPending: MAX_PENDING_PUBLISHES });
  const queues: JetStreamQueue[] = [];
  return {
    name: 'jetstream',
    async open(route: string, limits: QueueLimits) {
      const name = streamName(options.streamPrefix, route);
      const config = {
        name,
        subjects: [subjectOf(options.streamPrefix, route)],
        retention: RetentionPolicy.Workqueue,
        storage: StorageType.File,
        num_replicas: options.replicas,
        max_msgs: limits.maxMessages,
        max_bytes: limits.maxBytes,
        discard: DiscardPolicy.New,
        duplicate_window: nanos(Math.max(1, limits.dedupeWindowMs)),
      };
      // Another gateway may have created it already: then its settings are brought to this config.
      try {
        await jsm.streams.add(config);
      } catch (err) {
        if (!/already in use|exists/i.test((err as Error).message)) throw err;
        await jsm.streams.update(name, config);
      }
      await jsm.consumers.add(name, { durable_name: CONSUMER, ack_policy: AckPolicy.Explicit, max_ack_pending: MAX_ACK_PENDING, ack_wait: nanos(limits.ackTimeoutMs + ACK_WAIT_MARGIN_MS), max_deliver: -1 });
      const consumer = await js.consumers.get(name, CONSUMER);
      const q = new JetStreamQueue(route, name, publisher, jsm, consumer, subjectOf(options.streamPrefix, route));
      queues.push(q);
      return q;
    },
    async existingRoutes() {
      const routes: string[] = [];
      for await (const name of jsm.streams.names()) {
        const route = routeOfStream(options.streamPrefix, name);
        if (route !== undefined) routes.push(route);
      }
      return routes;
    },
    async close() {
      await Promise.all(queues.map((q) => q.close()));
      publisher.close();
      await nc.drain().catch(() => nc.close());
    },
  };
}

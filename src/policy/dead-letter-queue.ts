/**
 * The gateway's dead-letter queue: requests on routes whose policy says
 * `deadLetter` that finally failed (retries exhausted, breaker open, no
 * instance, deadline) or that a service refused as POISON_MESSAGE are stored
 * durably, listed with `dlq.list` and replayed with `dlq.replay`.
 *
 * A replay goes through the gateway's own front door (a loopback connection),
 * so it meets exactly the policies any request would. It carries a replay
 * marker so that failing again updates the existing entry instead of adding a
 * second one.
 */
import { SluiceError } from '../errors.js';
import { MimeTypes, decodeComposite, encodeComposite, type MetadataEntry } from '../protocol/metadata.js';
import { decodeJson } from '../protocol/json.js';
import type { Payload } from '../protocol/frames.js';
import { DEADLINE_MIME } from '../resilience/deadline.js';
import { DeadLetterStore, type DeadLetter } from '../resilience/dead-letter-store.js';
import type { DeadLetterSink } from '../broker/forwarding.js';
import type { Connection } from '../rsocket/connection.js';
import type { RouteTable } from '../service/handlers.js';
import type { Logger } from '../observability/log.js';
import type { DeadLetterStats } from '../observability/policy-metrics.js';

/** Composite metadata entry marking a replayed dead letter; its content is the entry id. */
export const REPLAY_MIME = 'application/x.sluice.dead-letter-replay';

/** Most entries one `dlq.list` streams, and one `dlq.replay` replays. */
export const MAX_LIST = 10_000;
export const MAX_REPLAY_BATCH = 1_000;

export interface DeadLetterQueueOptions {
  dir: string;
  maxEntries: number;
  maxBytes: number;
}

export class DeadLetterQueue implements DeadLetterStats {
  private constructor(
    readonly store: DeadLetterStore,
    private readonly log: Logger,
  ) {}

  static async open(options: DeadLetterQueueOptions, log: Logger): Promise<DeadLetterQueue> {
    const store = await DeadLetterStore.open(options);
    log.info({ dir: options.dir, pending: store.size }, 'dead-letter queue open');
    return new DeadLetterQueue(store, log);
  }

  pending(): number {
    return this.store.size;
  }

  counters(): { added: number; refused: number; replayed: number; replayFailures: number } {
    return this.store.counters;
  }

  /** Where failing requests go. A replayed request that fails again updates its own entry. */
  readonly sink: DeadLetterSink = async ({ route, model, payload, error, attempts, firstFailedAt }) => {
    const replayOf = replayMarker(payload.metadata);
    if (replayOf && this.store.get(replayOf)) return replayOf;
    // A caller that retries the same command (same route, same data) must not fill the queue with copies.
    const data = toBase64(payload.data);
    const same = this.store.list({ state: 'pending', route, limit: MAX_LIST }).find((e) => e.data === data && e.model === model);
    if (same) return same.id;
    const entry = await this.store.add({
      route,
      model,
      data,
      metadata: toBase64(payload.metadata),
      error: { code: error.code, message: error.message },
      attempts,
      firstFailedAt,
    });
    this.log.warn({ route, code: error.code, deadLetter: entry.id }, 'request dead-lettered');
    return entry.id;
  };

  /** `dlq.list` and `dlq.replay`, served inside the gateway; `loopback` sends replays through the front door. */
  routes(loopback: () => Promise<Connection>): RouteTable {
    return {
      'dlq.list': {
        requestStream: (data: unknown) => {
          const filter = listFilter(data);
          const entries = this.store.list(filter);
          return (async function* () {
            for (const e of entries) yield view(e);
          })();
        },
      },
      'dlq.replay': {
        requestResponse: async (data: unknown) => {
          const targets = this.replayTargets(data);
          const conn = await loopback();
          const results = [];
          for (const entry of targets) results.push(await this.replayOne(conn, entry));
          return {
            replayed: results.filter((r) => r.state === 'replayed').length,
            failed: results.filter((r) => r.state !== 'replayed').length,
            results,
          };
        },
      },
    };
  }

  private replayTargets(data: unknown): DeadLetter[] {
    if (typeof data !== 'object' || data === null) throw new SluiceError('INVALID_ARGUMENT', 'dlq.replay data must be {"id": "..."} or {"all": true, "route"?: "...", "limit"?: n}');
    const d = data as Record<string, unknown>;
    if (typeof d.id === 'string') {
      const entry = this.store.get(d.id);
      if (!entry) throw new SluiceError('INVALID_ARGUMENT', `no dead letter with id '${d.id}'`);
      if (entry.state !== 'pending') throw new SluiceError('INVALID_ARGUMENT', `dead letter '${d.id}' was already replayed`);
      return [entry];
    }
    if (d.all !== true) throw new SluiceError('INVALID_ARGUMENT', "dlq.replay needs 'id' (a string) or 'all': true");
    const limit = d.limit === undefined ? MAX_REPLAY_BATCH : d.limit;
    if (typeof limit !== 'number' || !Number.isInteger(limit) || limit < 1 || limit > MAX_REPLAY_BATCH) {
      throw new SluiceError('INVALID_ARGUMENT', `'limit' must be an integer from 1 to ${MAX_REPLAY_BATCH}`);
    }
    if (d.route !== undefined && typeof d.route !== 'string') throw new SluiceError('INVALID_ARGUMENT', "'route' must be a string");
    return this.store.list({ state: 'pending', ...(d.route ? { route: d.route as string } : {}), limit });
  }

  private async replayOne(conn: Connection, entry: DeadLetter): Promise<{ id: string; state: string; error?: { code: string; message: string } }> {
    const payload = replayPayload(entry);
    try {
      if (entry.model === 'fnf') conn.fireAndForget(payload);
      else await requestResponse(conn, payload);
      const updated = await this.store.recordReplay(entry.id, true);
      this.log.info({ deadLetter: entry.id, route: entry.route }, 'dead letter replayed');
      return { id: updated.id, state: updated.state };
    } catch (err) {
      const e = SluiceError.from(err);
      const error = { code: e.code, message: e.message };
      const updated = await this.store.recordReplay(entry.id, false, error);
      return { id: updated.id, state: updated.state, error };
    }
  }

  close(): Promise<void> {
    return this.store.close();
  }
}

function listFilter(data: unknown): { state: 'pending' | 'replayed' | 'all'; route?: string; limit: number } {
  const d = (typeof data === 'object' && data !== null ? data : {}) as Record<string, unknown>;
  const state = d.state ?? 'pending';
  if (state !== 'pending' && state !== 'replayed' && state !== 'all') throw new SluiceError('INVALID_ARGUMENT', "'state' must be 'pending', 'replayed' or 'all'");
  if (d.route !== undefined && typeof d.route !== 'string') throw new SluiceError('INVALID_ARGUMENT', "'route' must be a string");
  const limit = d.limit ?? MAX_LIST;
  if (typeof limit !== 'number' || !Number.isInteger(limit) || limit < 1 || limit > MAX_LIST) throw new SluiceError('INVALID_ARGUMENT', `'limit' must be an integer from 1 to ${MAX_LIST}`);
  return { state, limit, ...(d.route ? { route: d.route as string } : {}) };
}

/** An entry as `dlq.list` shows it: the data decoded when it is JSON. */
function view(e: DeadLetter): Record<string, unknown> {
  const bytes = fromBase64(e.data);
  let data: unknown;
  try {
    data = decodeJson(bytes);
  } catch {
    data = { base64: e.data };
  }
  const { metadata: _metadata, ...rest } = e;
  return { ...rest, data };
}

function replayPayload(e: DeadLetter): Payload {
  const entries: MetadataEntry[] = e.metadata ? decodeComposite(fromBase64(e.metadata)).filter((m) => m.mimeType !== DEADLINE_MIME && m.mimeType !== REPLAY_MIME) : [];
  if (!entries.some((m) => m.mimeType === MimeTypes.ROUTING)) throw new SluiceError('INVALID_ARGUMENT', `dead letter '${e.id}' has no route metadata`);
  entries.push({ mimeType: REPLAY_MIME, content: new TextEncoder().encode(e.id) });
  return { data: fromBase64(e.data), metadata: encodeComposite(entries) };
}

function replayMarker(metadata: Uint8Array | null): string | undefined {
  if (!metadata) return undefined;
  try {
    const entry = decodeComposite(metadata).find((m) => m.mimeType === REPLAY_MIME);
    return entry ? new TextDecoder().decode(entry.content) : undefined;
  } catch {
    return undefined;
  }
}

function requestResponse(conn: Connection, payload: Payload): Promise<void> {
  return new Promise((resolve, reject) => {
    conn.requestResponse(payload, {
      onNext: () => resolve(),
      onComplete: () => resolve(),
      onError: reject,
      onRequest: () => {},
      onCancel: () => {},
    });
  });
}

function toBase64(bytes: Uint8Array | null): string {
  return bytes ? Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64') : '';
}

function fromBase64(s: string): Uint8Array {
  return new Uint8Array(Buffer.from(s, 'base64'));
}

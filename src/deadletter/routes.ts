/**
 * `dlq.list` and `dlq.replay`: the dead-letter queue's routes, served inside
 * the gateway (admin grant only: they show and resend other callers'
 * payloads). A replay goes through the gateway's own front door (an
 * in-process connection accepted like any other), so it meets exactly the
 * policies any request would. Each entry is claimed before it is sent
 * (backend.ts): an entry another replay holds (on this gateway or, with the
 * shared queue, on another) is skipped, so no entry is replayed twice.
 */
import { SluiceError } from '../errors.js';
import { MimeTypes, decodeComposite, encodeComposite, type MetadataEntry } from '../protocol/metadata.js';
import { decodeJson } from '../protocol/json.js';
import type { Payload } from '../protocol/frames.js';
import { DEADLINE_MIME } from '../resilience/deadline.js';
import type { Connection } from '../rsocket/connection.js';
import type { RouteTable } from '../service/handlers.js';
import type { Logger } from '../observability/log.js';
import { REPLAY_MIME, fromBase64, type DeadLetterQueue } from './queue.js';
import type { DeadLetter } from './store.js';

/** Most entries one `dlq.list` streams, and one `dlq.replay` replays. */
export const MAX_LIST = 10_000;
export const MAX_REPLAY_BATCH = 1_000;

/**
 * How entries of a route that is not a request to forward are replayed (a
 * dead webhook delivery is queued for delivery again): resolves once the
 * replay is accepted, rejects with why not.
 */
export type LocalReplay = (entry: DeadLetter) => Promise<void>;

/**
 * The dead-letter routes over `queue`; `loopback` gives the connection
 * replays are sent on, `localReplays` the routes replayed in the gateway
 * instead (by their dead-letter route name).
 */
export function deadLetterRoutes(queue: DeadLetterQueue, loopback: () => Promise<Connection>, log: Logger, localReplays: ReadonlyMap<string, LocalReplay> = new Map()): RouteTable {
  const store = queue.store;

  const replayTargets = async (data: unknown): Promise<string[]> => {
    if (typeof data !== 'object' || data === null) throw new SluiceError('INVALID_ARGUMENT', 'dlq.replay data must be {"id": "..."} or {"all": true, "route"?: "...", "limit"?: n}');
    const d = data as Record<string, unknown>;
    if (typeof d.id === 'string') {
      const entry = await store.get(d.id);
      if (!entry) throw new SluiceError('INVALID_ARGUMENT', `no dead letter with id '${d.id}'`);
      if (entry.state !== 'pending') throw new SluiceError('INVALID_ARGUMENT', `dead letter '${d.id}' was already replayed`);
      return [entry.id];
    }
    if (d.all !== true) throw new SluiceError('INVALID_ARGUMENT', "dlq.replay needs 'id' (a string) or 'all': true");
    const limit = d.limit === undefined ? MAX_REPLAY_BATCH : d.limit;
    if (typeof limit !== 'number' || !Number.isInteger(limit) || limit < 1 || limit > MAX_REPLAY_BATCH) {
      throw new SluiceError('INVALID_ARGUMENT', `'limit' must be an integer from 1 to ${MAX_REPLAY_BATCH}`);
    }
    if (d.route !== undefined && typeof d.route !== 'string') throw new SluiceError('INVALID_ARGUMENT', "'route' must be a string");
    return (await store.list({ state: 'pending', ...(d.route ? { route: d.route as string } : {}), limit })).map((e) => e.id);
  };

  type Result = { id: string; state: 'pending' | 'replayed' | 'skipped'; error?: { code: string; message: string }; reason?: string };
  const replayOne = async (conn: Connection, id: string): Promise<Result> => {
    let claim;
    try {
      claim = await store.claim(id);
    } catch (err) {
      // Listed a moment ago, replayed (and removed) by someone else since.
      const e = SluiceError.from(err);
      if (e.code === 'INVALID_ARGUMENT') return { id, state: 'skipped', reason: e.message };
      throw err;
    }
    if (!claim.ok) return { id, state: 'skipped', reason: claim.reason };
    const entry = claim.entry;
    const local = localReplays.get(entry.route);
    try {
      if (local) await local(entry);
      else if (entry.model === 'fnf') conn.fireAndForget(replayPayload(entry));
      else await requestResponse(conn, replayPayload(entry));
    } catch (err) {
      const e = SluiceError.from(err);
      const error = { code: e.code, message: e.message };
      const updated = await store.settle(entry.id, false, error);
      return { id: updated.id, state: 'pending', error };
    }
    const updated = await store.settle(entry.id, true);
    log.info({ deadLetter: entry.id, route: entry.route }, 'dead letter replayed');
    return { id: updated.id, state: 'replayed' };
  };

  return {
    'dlq.list': {
      requestStream: (data: unknown) => {
        const filter = listFilter(data);
        return (async function* () {
          for (const e of await store.list(filter)) yield view(e);
        })();
      },
    },
    'dlq.replay': {
      requestResponse: async (data: unknown) => {
        const targets = await replayTargets(data);
        const conn = await loopback();
        const results: Result[] = [];
        for (const id of targets) results.push(await replayOne(conn, id));
        return {
          replayed: results.filter((r) => r.state === 'replayed').length,
          failed: results.filter((r) => r.state === 'pending').length,
          skipped: results.filter((r) => r.state === 'skipped').length,
          results,
        };
      },
    },
  };
}

function listFilter(data: unknown): { state: 'pending' | 'replayed' | 'all'; route?: string; limit: number; after?: string } {
  const d = (typeof data === 'object' && data !== null ? data : {}) as Record<string, unknown>;
  const state = d.state ?? 'pending';
  if (state !== 'pending' && state !== 'replayed' && state !== 'all') throw new SluiceError('INVALID_ARGUMENT', "'state' must be 'pending', 'replayed' or 'all'");
  if (d.route !== undefined && typeof d.route !== 'string') throw new SluiceError('INVALID_ARGUMENT', "'route' must be a string");
  const limit = d.limit ?? MAX_LIST;
  if (typeof limit !== 'number' || !Number.isInteger(limit) || limit < 1 || limit > MAX_LIST) throw new SluiceError('INVALID_ARGUMENT', `'limit' must be an integer from 1 to ${MAX_LIST}`);
  if (d.after !== undefined && (typeof d.after !== 'string' || !/^dl-\d+$/.test(d.after))) throw new SluiceError('INVALID_ARGUMENT', "'after' must be a dead-letter id such as 'dl-000042'");
  return { state, limit, ...(d.route ? { route: d.route as string } : {}), ...(d.after ? { after: d.after as string } : {}) };
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


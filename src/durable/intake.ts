/**
 * Where clients' commands enter a durable route. Whatever the model, a
 * command is acknowledged only once its queue has persisted it:
 *
 * - fire-and-forget: persisted; a refusal is counted and logged (there is
 *   no one to tell);
 * - request-response: the answer is the acknowledgement;
 * - request-channel: one acknowledgement per command, in command order. The
 *   gateway asks the client for commands only while fewer than `window` of
 *   its commands are being persisted or waiting for the client's demand for
 *   their acknowledgement, so a client that stops reading acknowledgements
 *   stops being asked for commands.
 *
 * An acknowledgement is JSON `{"id", "idempotencyKey", "duplicate"}`; a
 * command refused on a channel is acknowledged `{"idempotencyKey", "error":
 * {"code", "message", "retryAfterMs"?}}` and the channel goes on.
 */
import { SluiceError } from '../errors.js';
import { encodeJson } from '../protocol/json.js';
import { MimeTypes, encodeComposite, encodeRoutes, type MetadataEntry } from '../protocol/metadata.js';
import { readIdempotencyKey } from '../protocol/idempotency.js';
import type { Payload } from '../protocol/frames.js';
import type { Stream, StreamHandler } from '../rsocket/stream.js';
import { DEADLINE_MIME } from '../resilience/deadline.js';
import type { DurableCounters } from './dispatcher.js';
import type { Appended, DurableQueue } from './queue.js';
import { copyOf } from '../protocol/copy-bytes.js';

/** Commands of one channel being persisted or acknowledged at once. */
export const CHANNEL_WINDOW = 64;

/** Marks a replayed dead letter: never a duplicate of itself. Same value as the dead-letter queue's REPLAY_MIME. */
const REPLAY_MIME = 'application/x.sluice.dead-letter-replay';

export interface IntakeTarget {
  readonly route: string;
  readonly queue: Promise<DurableQueue>;
  readonly counters: DurableCounters;
}

/**
 * The command as stored: its data; its metadata without the caller's
 * deadline (which was for the acknowledgement, not the delivery) and with
 * the route (a channel's later payloads need not name it, but each command
 * may open a delivery of its own); and its key.
 */
export function commandOf(route: string, payload: Payload, entries: readonly MetadataEntry[]): { payload: Payload; key: string | undefined } {
  const key = entries.some((e) => e.mimeType === REPLAY_MIME) ? undefined : readIdempotencyKey(entries);
  const kept = entries.filter((e) => e.mimeType !== DEADLINE_MIME);
  const routed = kept.some((e) => e.mimeType === MimeTypes.ROUTING);
  if (!routed) kept.unshift({ mimeType: MimeTypes.ROUTING, content: encodeRoutes(route) });
  // Copies: the queue keeps the command long after the frame's read buffer is reused.
  const metadata = routed && kept.length === entries.length ? (payload.metadata ? copyOf(payload.metadata) : null) : encodeComposite(kept);
  return { payload: { data: payload.data ? copyOf(payload.data) : null, metadata }, key };
}

async function persist(target: IntakeTarget, payload: Payload, entries: readonly MetadataEntry[]): Promise<{ appended: Appended; key: string | undefined }> {
  try {
    const command = commandOf(target.route, payload, entries);
    const appended = await (await target.queue).append(command);
    if (appended.duplicate) target.counters.duplicates++;
    else target.counters.accepted++;
    return { appended, key: command.key };
  } catch (err) {
    target.counters.refused++;
    throw SluiceError.from(err);
  }
}

function ackPayload(a: Appended, key: string | undefined): Payload {
  return { data: encodeJson({ id: a.id, idempotencyKey: key ?? null, duplicate: a.duplicate }), metadata: null };
}

/** Fire-and-forget into a durable route; resolves with the refusal, if any, for the caller to log. */
export async function intakeFireAndForget(target: IntakeTarget, payload: Payload, entries: readonly MetadataEntry[]): Promise<SluiceError | undefined> {
  try {
    await persist(target, payload, entries);
    return undefined;
  } catch (err) {
    return SluiceError.from(err);
  }
}

/** Request-response into a durable route: the answer is the acknowledgement. */
export function intakeResponse(target: IntakeTarget, payload: Payload, entries: readonly MetadataEntry[], down: Stream): StreamHandler {
  persist(target, payload, entries).then(
    ({ appended, key }) => {
      if (!down.closed) down.next(ackPayload(appended, key), true);
    },
    (err: unknown) => down.error(SluiceError.from(err)),
  );
  return down.handler;
}

/** Request-channel into a durable route: one acknowledgement per command, in order. */
export function intakeChannel(
  target: IntakeTarget,
  first: Payload,
  firstEntries: readonly MetadataEntry[],
  complete: boolean,
  down: Stream,
  decode: (metadata: Uint8Array | null) => MetadataEntry[],
  onEnd: () => void = () => {},
): StreamHandler {
  /** Commands of this channel not yet acknowledged to the client, oldest first; `ack` is set once persistence settles. */
  const pending: Array<{ ack: Payload | undefined }> = [];
  let inputDone = complete;
  let ended = false;

  const flush = () => {
    while (!ended && pending.length > 0 && pending[0]!.ack !== undefined && down.sendCredit > 0) {
      down.next(pending.shift()!.ack!);
      // The acknowledged command's place in the window is free again.
      if (!inputDone) down.request(1);
    }
    if (!ended && inputDone && pending.length === 0) {
      end();
      down.complete();
    }
  };
  const end = () => {
    if (ended) return;
    ended = true;
    onEnd();
  };

  const take = (payload: Payload, entries: readonly MetadataEntry[] | undefined) => {
    const item: { ack: Payload | undefined } = { ack: undefined };
    pending.push(item);
    let key: string | undefined;
    // Never rejects: a refusal becomes that command's acknowledgement.
    void (async () => {
      try {
        const r = await persist(target, payload, entries ?? decode(payload.metadata));
        key = r.key;
        return ackPayload(r.appended, key);
      } catch (err) {
        const e = SluiceError.from(err);
        const retryAfterMs = e.details?.retryAfterMs;
        return { data: encodeJson({ idempotencyKey: key ?? null, error: { code: e.code, message: e.message, ...(retryAfterMs !== undefined ? { retryAfterMs } : {}) } }), metadata: null };
      }
    })().then((ack) => {
      item.ack = ack;
      flush();
    });
  };

  take(first, firstEntries);
  // The request frame carried the first command; the rest of the window is asked for now.
  if (!inputDone) down.request(CHANNEL_WINDOW - 1);
  return {
    onNext: (payload) => take(payload, undefined),
    onComplete: () => {
      inputDone = true;
      flush();
    },
    // The client is gone; what it sent is persisted (or refused) regardless.
    onError: end,
    onRequest: () => flush(),
    onCancel: end,
  };
}

/**
 * The dead-letter queue shared by a fleet of gateways, in NATS JetStream: a
 * dead letter made on any gateway is listed and replayed from any other.
 * Two streams (names `<nats.streamPrefix>__DLQ...`, which no route's stream
 * can take: an encoded route never has `_` followed by non-hex):
 *
 * - `<prefix>__DLQ`, subject `<prefix>.dlq.entries`: one message per dead
 *   letter (JSON of its fields); its stream sequence is its id
 *   (`dl-000042`). Limits retention: `max_msgs` = `deadLetter.maxEntries`,
 *   `max_bytes` = `deadLetter.maxBytes`, `max_age` = `deadLetter.maxAgeMs`,
 *   discard **new**: at the bound a new dead letter is refused OVERLOADED
 *   (the requester is told, `sluice_dead_letter_events_total{event="refused"}`
 *   counts it); stored ones are never dropped to make room, only by age.
 *   Nats-Msg-Id is a hash of model, route and data, so the same failed
 *   request stored twice within DEDUPE_WINDOW_MS is one entry (the embedded
 *   log's index does this job on one gateway).
 * - `<prefix>__DLQ_CLAIMS`, subjects `<prefix>.dlq.claims.<seq>`, one
 *   message kept per subject: the replay state of entry `seq` (`claim` by a
 *   gateway since a time, or `failed` with the latest error).
 *
 * Replay exactly once across gateways rests on JetStream's compare-and-set:
 * a claim is published with `Nats-Expected-Last-Subject-Sequence` = the
 * state message the gateway read (0: none), and the stream leader accepts
 * exactly one of two concurrent claims (the other gets "wrong last
 * sequence"). After a claim, the entry is read again: a replay that finished
 * meanwhile deleted it (and then removed its state), so a claim made on
 * that empty state finds nothing and backs off. A successful replay deletes
 * the entry, then its state; a failed one writes `failed` on top of the
 * claim (again compare-and-set). A claim older than CLAIM_TTL_MS is taken
 * over: a gateway killed between sending a replay and deleting the entry
 * makes that one entry at-least-once, never lost.
 *
 * Every read that decides (get, claim) is a JetStream API request answered
 * by the stream leader, never a replica's possibly stale copy.
 */
import { createHash } from 'node:crypto';
import { hostname } from 'node:os';
import type { NatsConnection } from '@nats-io/nats-core';
import { nanos } from '@nats-io/transport-node';
import { DiscardPolicy, JetStreamApiError, RetentionPolicy, StorageType, jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager, type MsgRequest, type StoredMsg } from '@nats-io/jetstream';
import { SluiceError } from '../errors.js';
import type { Logger } from '../observability/log.js';
import { connectNats, type NatsCredentials } from '../fleet/nats-connection.js';
import type { Claim, DeadLetterBackend, DeadLetterCounters } from './backend.js';
import { formatId, seqOf, validateNewDeadLetter, type DeadLetter, type ListOptions, type NewDeadLetter } from './store.js';

export interface JetStreamDeadLettersOptions {
  servers: readonly string[];
  credentials: NatsCredentials;
  /** Replicas of both streams (`nats.replicas`). */
  replicas: number;
  /** `nats.streamPrefix`. */
  streamPrefix: string;
  /** Entries kept at most (`deadLetter.maxEntries`). */
  maxEntries: number;
  /** Bytes of entries kept at most (`deadLetter.maxBytes`). */
  maxBytes: number;
  /** Ms an entry is kept at most, replayed or not (`deadLetter.maxAgeMs`). */
  maxAgeMs: number;
  /** Ms after which another gateway may take a claim over. Default CLAIM_TTL_MS. */
  claimTtlMs?: number;
}

/** Ms within which the same failed request (model, route, data) stored again is one entry. */
export const DEDUPE_WINDOW_MS = 120_000;
/** Ms after which a claim is taken over: its gateway died between sending the replay and recording it. */
export const CLAIM_TTL_MS = 300_000;
/** Longest wait for a JetStream API answer, in ms. */
const API_TIMEOUT_MS = 10_000;
/** How stale the pending count read from the server may be, in ms. */
const STATS_TTL_MS = 1_000;
/** State reads `list` makes at once. */
const LIST_READS = 32;
/** Tries at creating the streams while a cluster may still be electing. */
const OPEN_ATTEMPTS = 5;

/** Stream names for `prefix`: `__` can never be an encoded route's stream (see jetstream-queue.ts). */
export function deadLetterStreams(prefix: string): { entries: string; claims: string; entrySubject: string; claimSubjects: string; claimSubject: (seq: number) => string } {
  const p = prefix.toLowerCase();
  return { entries: `${prefix}__DLQ`, claims: `${prefix}__DLQ_CLAIMS`, entrySubject: `${p}.dlq.entries`, claimSubjects: `${p}.dlq.claims.*`, claimSubject: (seq) => `${p}.dlq.claims.${seq}` };
}

type StoredEntry = Omit<DeadLetter, 'id' | 'replays' | 'state'>;
type ClaimState = { op: 'claim'; by: string; at: number; replays: number; error?: { code: string; message: string } } | { op: 'failed'; at: number; replays: number; error?: { code: string; message: string } };

export class JetStreamDeadLetters implements DeadLetterBackend {
  readonly kind = 'jetstream';
  readonly counters: DeadLetterCounters = { added: 0, refused: 0, replayed: 0, replayFailures: 0 };
  /** The claims this gateway holds: entry id -> sequence of its claim message (what `settle` expects to replace). */
  private readonly held = new Map<string, { claimSeq: number; entry: DeadLetter }>();
  private readonly names: ReturnType<typeof deadLetterStreams>;
  /** Who claims, as other gateways see it in a claim. */
  private readonly owner = `${hostname()}:${process.pid}`;
  private pending = 0;
  private pendingAt = 0;
  private refreshing = false;

  private constructor(
    private readonly nc: NatsConnection,
    private readonly jsm: JetStreamManager,
    private readonly js: JetStreamClient,
    readonly options: JetStreamDeadLettersOptions,
    private readonly log: Logger,
  ) {
    this.names = deadLetterStreams(options.streamPrefix);
  }

  /** Connects, creates (or brings to these settings) both streams and reads the pending count. Throws UNAVAILABLE when NATS does not answer. */
  static async open(options: JetStreamDeadLettersOptions, log: Logger): Promise<JetStreamDeadLetters> {
    const nc = await connectNats(options.servers, 'sluice-gateway-dlq', options.credentials);
    try {
      const jsm = await jetstreamManager(nc, { timeout: API_TIMEOUT_MS });
      const js = jetstream(nc, { timeout: API_TIMEOUT_MS });
      const store = new JetStreamDeadLetters(nc, jsm, js, options, log);
      await store.ensureStreams();
      await store.refreshPending();
      return store;
    } catch (err) {
      await nc.close().catch(() => {});
      throw err instanceof SluiceError ? err : new SluiceError('UNAVAILABLE', `cannot open the shared dead-letter queue in NATS: ${(err as Error).message}`, { cause: err });
    }
  }

  get size(): number {
    if (Date.now() - this.pendingAt > STATS_TTL_MS) void this.refreshPending();
    return this.pending;
  }

  async add(input: NewDeadLetter): Promise<DeadLetter> {
    const fields = validateNewDeadLetter(input);
    const stored: StoredEntry = { ...fields, deadLetteredAt: Date.now() };
    const body = new TextEncoder().encode(JSON.stringify(stored));
    const key = dedupeKey(fields);
    let ack = await this.publishEntry(body, key);
    if (ack.duplicate) {
      // The same request within the window: its entry, unless that one was replayed (and removed) meanwhile.
      const existing = await this.get(formatId(ack.seq));
      if (existing) return existing;
      ack = await this.publishEntry(body, `${key}:${ack.seq}`);
    }
    this.counters.added++;
    this.pending++;
    return { id: formatId(ack.seq), ...stored, replays: 0, state: 'pending' };
  }

  async get(id: string): Promise<DeadLetter | undefined> {
    const seq = seqOf(id);
    if (seq === 0) return undefined;
    const m = await this.jsm.streams.getMessage(this.names.entries, { seq });
    if (!m || m.subject !== this.names.entrySubject) return undefined;
    return withState(entryOf(m), await this.stateOf(seq));
  }

  /** Always undefined: `add` deduplicates through Nats-Msg-Id instead of a scan of the stream. */
  findPending(): undefined {
    return undefined;
  }

  /**
   * Pending entries oldest first, from after `options.after`, at most
   * `options.limit` (one leader read per entry, so a page costs its size in
   * round trips). A replayed entry is removed from the stream, so `state:
   * 'replayed'` lists none.
   */
  async list(options: ListOptions = {}): Promise<DeadLetter[]> {
    const { state = 'pending', route, limit = Infinity, after } = options;
    if (!(limit >= 0)) throw new RangeError(`list: limit must be >= 0, got ${limit}`);
    if (state === 'replayed') return [];
    const entries: DeadLetter[] = [];
    let seq = (after === undefined ? 0 : seqOf(after)) + 1;
    while (entries.length < limit) {
      const m = await this.jsm.streams.getMessage(this.names.entries, { seq, next_by_subj: this.names.entrySubject } as unknown as MsgRequest);
      if (!m) break;
      seq = m.seq + 1;
      const e = entryOf(m);
      if (route === undefined || e.route === route) entries.push(e);
    }
    for (let i = 0; i < entries.length; i += LIST_READS) {
      const batch = entries.slice(i, i + LIST_READS);
      const states = await Promise.all(batch.map((e) => this.stateOf(seqOf(e.id))));
      batch.forEach((e, j) => (entries[i + j] = withState(e, states[j])));
    }
    return entries;
  }

  async claim(id: string): Promise<Claim> {
    const seq = seqOf(id);
    const entry = await this.get(id);
    if (!entry) throw new SluiceError('INVALID_ARGUMENT', `no dead letter '${id}' (a replayed one is removed from the shared queue)`);
    const last = await this.jsm.streams.getMessage(this.names.claims, { last_by_subj: this.names.claimSubject(seq) });
    const state = last ? stateOfMsg(last) : undefined;
    if (state?.op === 'claim' && Date.now() - state.at < (this.options.claimTtlMs ?? CLAIM_TTL_MS)) return { ok: false, reason: `dead letter '${id}' is being replayed by ${state.by}` };
    const claim: ClaimState = { op: 'claim', by: this.owner, at: Date.now(), replays: state?.replays ?? 0, ...(state?.error ? { error: state.error } : {}) };
    let claimSeq: number;
    try {
      claimSeq = (await this.js.publish(this.names.claimSubject(seq), JSON.stringify(claim), { expect: { lastSubjectSequence: last?.seq ?? 0 } })).seq;
    } catch (err) {
      if (err instanceof JetStreamApiError && err.code === WRONG_LAST_SEQUENCE) return { ok: false, reason: `dead letter '${id}' was claimed by another replay first` };
      throw unavailable('claiming a dead letter', err);
    }
    // A replay that finished between our reads deleted the entry: the claim we made is on its emptied state.
    if (!(await this.jsm.streams.getMessage(this.names.entries, { seq }))) {
      await this.dropState(seq);
      return { ok: false, reason: `dead letter '${id}' was replayed meanwhile` };
    }
    this.held.set(id, { claimSeq, entry });
    return { ok: true, entry };
  }

  async settle(id: string, succeeded: boolean, error?: { code: string; message: string }): Promise<DeadLetter> {
    const held = this.held.get(id);
    if (!held) throw new SluiceError('INVALID_ARGUMENT', `dead letter '${id}' is not claimed here`);
    this.held.delete(id);
    const seq = seqOf(id);
    const replays = held.entry.replays + 1;
    if (succeeded) {
      // The entry first: once it is gone no claim can succeed; its state after it.
      await this.jsm.streams.deleteMessage(this.names.entries, seq, false).catch((err: unknown) => {
        if (!(err instanceof JetStreamApiError && err.code === NO_MESSAGE_FOUND)) throw unavailable('removing a replayed dead letter', err);
      });
      await this.dropState(seq);
      this.counters.replayed++;
      this.pending = Math.max(0, this.pending - 1);
      return { ...held.entry, replays, state: 'replayed' };
    }
    const failed: ClaimState = { op: 'failed', at: Date.now(), replays, error: error ? { code: String(error.code), message: String(error.message) } : held.entry.error };
    try {
      await this.js.publish(this.names.claimSubject(seq), JSON.stringify(failed), { expect: { lastSubjectSequence: held.claimSeq } });
    } catch (err) {
      // Our claim was taken over (it outlived CLAIM_TTL_MS): the newer claimant records its own outcome.
      if (!(err instanceof JetStreamApiError && err.code === WRONG_LAST_SEQUENCE)) throw unavailable('recording a failed replay', err);
      this.log.warn({ deadLetter: id }, 'dead-letter replay outlived its claim: another gateway took it over');
    }
    this.counters.replayFailures++;
    return { ...held.entry, replays, state: 'pending', error: failed.error! };
  }

  async close(): Promise<void> {
    await this.nc.drain().catch(() => this.nc.close());
  }

  private async publishEntry(body: Uint8Array, msgID: string): Promise<{ seq: number; duplicate: boolean }> {
    try {
      return await this.js.publish(this.names.entrySubject, body, { msgID });
    } catch (err) {
      if (/maximum (messages|bytes)/i.test((err as Error).message)) {
        this.counters.refused++;
        throw new SluiceError('OVERLOADED', `dead-letter queue full (the shared stream holds deadLetter.maxEntries=${this.options.maxEntries} entries or deadLetter.maxBytes=${this.options.maxBytes} bytes)`, {
          details: { maxEntries: this.options.maxEntries, maxBytes: this.options.maxBytes },
          cause: err,
        });
      }
      throw unavailable('storing a dead letter', err);
    }
  }

  private async stateOf(seq: number): Promise<ClaimState | undefined> {
    const m = await this.jsm.streams.getMessage(this.names.claims, { last_by_subj: this.names.claimSubject(seq) });
    return m ? stateOfMsg(m) : undefined;
  }

  private async dropState(seq: number): Promise<void> {
    await this.jsm.streams.purge(this.names.claims, { filter: this.names.claimSubject(seq) }).catch((err: unknown) => {
      // Harmless: a state whose entry is gone is never read, and ages out with deadLetter.maxAgeMs.
      this.log.warn({ seq, reason: (err as Error).message }, 'dead-letter claim not removed');
    });
  }

  private async refreshPending(): Promise<void> {
    if (this.refreshing) return;
    this.refreshing = true;
    try {
      const info = await this.jsm.streams.info(this.names.entries);
      this.pending = info.state.messages;
      this.pendingAt = Date.now();
    } catch {
      // Kept as it was; the next read tries again.
    } finally {
      this.refreshing = false;
    }
  }

  private async ensureStreams(): Promise<void> {
    const { replicas, maxEntries, maxBytes, maxAgeMs } = this.options;
    const common = { retention: RetentionPolicy.Limits, storage: StorageType.File, num_replicas: replicas, max_age: nanos(maxAgeMs), discard: DiscardPolicy.New };
    const entries = { ...common, name: this.names.entries, subjects: [this.names.entrySubject], max_msgs: maxEntries, max_bytes: maxBytes, duplicate_window: nanos(Math.min(DEDUPE_WINDOW_MS, maxAgeMs)) };
    // One state per entry at most (max_msgs_per_subject 1), so the entries' bound bounds the states too.
    const claims = { ...common, name: this.names.claims, subjects: [this.names.claimSubjects], max_msgs: maxEntries, max_msgs_per_subject: 1 };
    for (const config of [entries, claims]) {
      for (let attempt = 1; ; attempt++) {
        try {
          try {
            await this.jsm.streams.add(config);
          } catch (err) {
            if (!/already in use|exists/i.test((err as Error).message)) throw err;
            await this.jsm.streams.update(config.name, config);
          }
          break;
        } catch (err) {
          if (attempt >= OPEN_ATTEMPTS) throw unavailable(`creating the stream '${config.name}'`, err);
          await new Promise((r) => setTimeout(r, 250 * attempt));
        }
      }
    }
  }
}

const WRONG_LAST_SEQUENCE = 10071;
const NO_MESSAGE_FOUND = 10037;

function unavailable(what: string, err: unknown): SluiceError {
  return new SluiceError('UNAVAILABLE', `shared dead-letter queue: ${what} failed: ${(err as Error).message}`, { cause: err });
}

/** Nats-Msg-Id of a failed request: equal for the same model, route and data. */
function dedupeKey(f: NewDeadLetter): string {
  return createHash('sha256').update(`${f.model}\n${f.route}\n${f.data}`).digest('base64url');
}

function entryOf(m: StoredMsg): DeadLetter {
  const s = m.json<StoredEntry>();
  return { id: formatId(m.seq), route: s.route, model: s.model, data: s.data, metadata: s.metadata, error: s.error, attempts: s.attempts, firstFailedAt: s.firstFailedAt, deadLetteredAt: s.deadLetteredAt, replays: 0, state: 'pending' };
}

function stateOfMsg(m: StoredMsg): ClaimState | undefined {
  try {
    return m.json<ClaimState>();
  } catch {
    return undefined;
  }
}

function withState(e: DeadLetter, s: ClaimState | undefined): DeadLetter {
  if (!s) return e;
  return { ...e, replays: s.replays, ...(s.error ? { error: s.error } : {}) };
}

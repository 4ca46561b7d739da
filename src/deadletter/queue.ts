/**
 * The gateway's dead-letter queue: requests on routes whose policy says
 * `deadLetter` that finally failed (retries exhausted, breaker open, no
 * instance, deadline) or that a service refused as POISON_MESSAGE are stored
 * durably, listed with `dlq.list` and replayed with `dlq.replay`
 * (routes.ts). Where: the gateway's own file log (store.ts) by default, or,
 * with `nats.servers`, JetStream streams every gateway of the fleet shares
 * (jetstream-store.ts), so any gateway lists and replays any dead letter.
 *
 * A replayed request carries a marker so that failing again updates the
 * existing entry instead of adding a second one; a caller retrying the same
 * command finds the pending copy through the log's index.
 */
import { decodeComposite } from '../protocol/metadata.js';
import type { Logger } from '../observability/log.js';
import type { DeadLetterStats } from '../observability/policy-metrics.js';
import type { GatewayConfig } from '../config.js';
import { DeadLetterStore } from './store.js';
import type { DeadLetterBackend } from './backend.js';
import type { DeadLetterSink } from './rules.js';

/** Composite metadata entry marking a replayed dead letter; its content is the entry id. */
export const REPLAY_MIME = 'application/x.sluice.dead-letter-replay';

export class DeadLetterQueue implements DeadLetterStats {
  constructor(
    readonly store: DeadLetterBackend,
    private readonly log: Logger,
  ) {}

  /**
   * Opens the queue the config asks for: with `nats.servers`, the fleet's
   * shared streams in JetStream (UNAVAILABLE when NATS does not answer);
   * otherwise the log in `deadLetter.dir`, taking its single-writer lock
   * (UNAVAILABLE when another process holds it).
   */
  static async open(config: Pick<GatewayConfig, 'deadLetter' | 'nats'>, log: Logger): Promise<DeadLetterQueue> {
    const { deadLetter: d, nats } = config;
    if (nats.servers.length > 0) {
      const { JetStreamDeadLetters } = await import('./jetstream-store.js');
      const store = await JetStreamDeadLetters.open(
        {
          servers: nats.servers,
          credentials: { credentialsFile: nats.credentialsFile, tokenFile: nats.tokenFile },
          replicas: nats.replicas,
          streamPrefix: nats.streamPrefix,
          maxEntries: d.maxEntries,
          maxBytes: d.maxBytes,
          maxAgeMs: d.maxAgeMs,
        },
        log.child({ component: 'dead-letters' }),
      );
      log.info({ servers: nats.servers, replicas: nats.replicas, pending: store.size }, 'dead-letter queue open, shared in NATS JetStream');
      return new DeadLetterQueue(store, log);
    }
    const store = await DeadLetterStore.open({ dir: d.dir, maxEntries: d.maxEntries, maxBytes: d.maxBytes });
    log.info({ dir: d.dir, pending: store.size }, 'dead-letter queue open');
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
    if (replayOf && (await this.store.get(replayOf))) return replayOf;
    // A caller that retries the same command (same route, same data) must not fill the queue with copies.
    const data = toBase64(payload.data);
    const same = await this.store.findPending(model, route, data);
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

  /** Waits for queued writes, closes the log and gives back its lock. */
  close(): Promise<void> {
    return this.store.close();
  }
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

export function toBase64(bytes: Uint8Array | null): string {
  return bytes ? Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64') : '';
}

export function fromBase64(s: string): Uint8Array {
  return new Uint8Array(Buffer.from(s, 'base64'));
}

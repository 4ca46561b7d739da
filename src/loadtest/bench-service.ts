/**
 * The bench service: public routes for measuring and for proving demand.
 *
 * - `bench.echo` (request-response) returns its payload.
 * - `bench.source` (request-stream) `{id?, count?, size?}` streams
 *   `{seq, requested, pad}`; `requested` is the total demand this producer
 *   has received, so a client sees how far demand runs ahead of its own. It is
 *   an async generator: pulled only when there is demand, so it can never
 *   emit beyond it.
 * - `bench.stats` (request-response) `{id}` returns `{emitted, requested,
 *   cancelled, completed}` of the `bench.source` stream with that id.
 * - `bench.sink` (request-channel) first payload `{delayMs}`; handles each
 *   further item in `delayMs`, requesting the next only when done, and
 *   answers each with `{seq}` (its own count from 0), plus `ack`: the item's
 *   own `seq` when it has an integer one, so a producer can check that each
 *   item it sent was acknowledged exactly once.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { SluiceError } from '../errors.js';
import { lastItem } from '../flow/emitters.js';
import type { RouteTable, StreamContext } from '../service/handlers.js';

export interface SourceStats {
  readonly emitted: number;
  readonly requested: number;
  readonly cancelled: boolean;
  readonly completed: boolean;
}

/** How many `bench.source` streams keep their stats; older ones are forgotten first. */
export const STATS_KEPT = 10_000;
/** Largest `size` a bench.source item may ask for, in bytes (under the default payload limit). */
export const MAX_ITEM_SIZE = 512 * 1024;

/** What a bench service process can report about itself (the scale benchmark asks over IPC). */
export interface BenchServiceState {
  /** `bench.source` streams open now: started and neither completed nor cancelled. */
  openSources: number;
}

export function benchRoutes(state: BenchServiceState = { openSources: 0 }): RouteTable {
  const stats = new Map<string, { ctx: StreamContext; cancelled: boolean; completed: boolean }>();
  let anonymous = 0;

  return {
    'bench.echo': { idempotent: true, requestResponse: (data: unknown) => data },

    'bench.source': {
      requestStream(data: unknown, ctx) {
        const { id, count, size } = sourceParams(data, () => `anon-${++anonymous}`);
        const record = { ctx, cancelled: false, completed: false };
        stats.delete(id);
        stats.set(id, record);
        if (stats.size > STATS_KEPT) stats.delete(stats.keys().next().value as string);
        // Open from its first pull to its end: the generator's finally runs on completion and on cancel
        // (the emitter returns it), without an AbortController per stream, which showed when opening many.
        return (async function* () {
          state.openSources++;
          try {
            const pad = padFor(size);
            for (let seq = 0; seq < count; seq++) {
              const item = { seq, requested: ctx.requested, pad };
              if (seq === count - 1) {
                // Completion travels with the last item: no extra demand needed to see it.
                record.completed = true;
                yield lastItem(item);
              } else {
                yield item;
              }
            }
            record.completed = true;
          } finally {
            record.cancelled = !record.completed;
            state.openSources--;
          }
        })();
      },
    },

    'bench.stats': {
      idempotent: true,
      requestResponse(data: unknown): SourceStats {
        const id = field(data, 'id', 'string');
        const record = stats.get(id);
        if (!record) throw new SluiceError('INVALID_ARGUMENT', `no bench.source stream with id '${id}' (the last ${STATS_KEPT} are kept)`);
        return { emitted: record.ctx.emitted, requested: record.ctx.requested, cancelled: record.cancelled, completed: record.completed };
      },
    },

    'bench.sink': {
      inputPrefetch: 1,
      requestChannel(input: AsyncIterableIterator<unknown>, ctx) {
        return (async function* () {
          const first = await input.next();
          const delayMs = first.done ? 0 : optionalNumber(first.value, 'delayMs', 0, 60_000) ?? 0;
          let seq = 0;
          for await (const item of input) {
            if (delayMs > 0) await sleep(delayMs, undefined, { signal: ctx.signal });
            const itemSeq = typeof item === 'object' && item !== null ? (item as { seq?: unknown }).seq : undefined;
            yield Number.isInteger(itemSeq) ? { seq: seq++, ack: itemSeq } : { seq: seq++ };
          }
        })();
      },
    },
  };
}

function sourceParams(data: unknown, anonymousId: () => string): { id: string; count: number; size: number } {
  if (data !== undefined && (typeof data !== 'object' || data === null || Array.isArray(data))) {
    throw new SluiceError('INVALID_ARGUMENT', 'bench.source data must be an object {"id"?, "count"?, "size"?}');
  }
  const obj = (data ?? {}) as Record<string, unknown>;
  if (obj.id !== undefined && (typeof obj.id !== 'string' || obj.id.length === 0 || obj.id.length > 200)) {
    throw new SluiceError('INVALID_ARGUMENT', "'id' must be a string of 1-200 characters");
  }
  return {
    id: (obj.id as string | undefined) ?? anonymousId(),
    count: optionalNumber(obj, 'count', 0, Number.MAX_SAFE_INTEGER) ?? Infinity,
    size: optionalNumber(obj, 'size', 0, MAX_ITEM_SIZE) ?? 0,
  };
}

function optionalNumber(data: unknown, key: string, min: number, max: number): number | undefined {
  const value = typeof data === 'object' && data !== null ? (data as Record<string, unknown>)[key] : undefined;
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new SluiceError('INVALID_ARGUMENT', `'${key}' must be an integer from ${min} to ${max}`);
  }
  return value;
}

function field(data: unknown, key: string, type: 'string'): string {
  const value = typeof data === 'object' && data !== null ? (data as Record<string, unknown>)[key] : undefined;
  if (typeof value !== type) throw new SluiceError('INVALID_ARGUMENT', `'${key}' is required and must be a ${type}`);
  return value as string;
}

/** Padding that makes `{"seq":…,"requested":…,"pad":"…"}` about `size` bytes. */
function padFor(size: number): string {
  const overhead = '{"seq":0,"requested":0,"pad":""}'.length + 8;
  return 'x'.repeat(Math.max(0, size - overhead));
}

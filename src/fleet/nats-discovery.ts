/**
 * Services find the fleet's gateways in the NATS KV bucket the gateways
 * register in: a watch delivers every key's latest entry, then each write
 * and delete as it happens. Entries are aged on the service's clock
 * (gateway-table.ts), so a gateway that died without deleting its key is
 * dropped once its TTL passes. The watch itself is watched: one that falls
 * silent (its NATS node died under it) is made again.
 */
import type { NatsConnection } from '@nats-io/nats-core';
import type { GatewayDiscovery } from '../service/gateway-discovery.js';
import { silentLogger, type Logger } from '../observability/log.js';
import { DEFAULT_FLEET_BUCKET, readGatewayEntry } from './gateway-entry.js';
import { DEFAULT_MAX_GATEWAYS, GatewayTable } from './gateway-table.js';
import { connectNats, openFleetBucket, type NatsCredentials } from './nats-connection.js';

export interface NatsDiscoveryOptions {
  /** NATS servers: `nats://host:4222`, ... */
  servers: readonly string[];
  /** NATS credentials (a creds file or a token file); default none. */
  credentials?: NatsCredentials;
  /** The fleet's bucket. Default `sluice_gateways`. */
  bucket?: string;
  /** JetStream replicas of the bucket if this service happens to create it (before any gateway did). Default 1; 3 in a cluster. */
  replicas?: number;
  /** Gateways connected to at most; more are ignored (and logged). Default 64. */
  maxGateways?: number;
  logger?: Logger;
  /** Epoch ms; injectable for tests. */
  now?: () => number;
}

/** Storage age of entries when a service creates the bucket first (the gateways' own TTL rules aging; this only cleans up). */
const BUCKET_MAX_AGE_MS = 45_000;

/** How often entries are aged and the watch's health checked. */
const WATCHDOG_MS = 250;

/** Wait before watching again after a watch failed or was found silent. */
const WATCH_RETRY_MS = 500;

export function natsDiscovery(options: NatsDiscoveryOptions): GatewayDiscovery {
  const bucket = options.bucket ?? DEFAULT_FLEET_BUCKET;
  const log = options.logger ?? silentLogger;
  const now = options.now ?? Date.now;
  return {
    describe: () => `NATS KV bucket '${bucket}' at ${options.servers.join(', ')}`,
    watch(onChange) {
      const table = new GatewayTable(options.maxGateways ?? DEFAULT_MAX_GATEWAYS);
      let stopped = false;
      let nc: NatsConnection | undefined;
      let current: { stop(): void } | undefined;
      let lastMessageAt = now();
      let last = '';
      const publish = () => {
        const urls = table.urls();
        const key = urls.join('\n');
        if (key === last) return;
        last = key;
        onChange(urls);
      };
      /**
       * Gateways renew every third of their TTL, so a healthy watch hears
       * from each of them that often. Silence for two thirds of the shortest
       * TTL means the watch (or the NATS node under it) is gone, not every
       * gateway at once: the watch is made again, and the gateways held get a
       * full TTL from then (GatewayTable.forgive), so a lost NATS node never
       * makes the service drop healthy gateways.
       */
      const silentFor = (t: number) => t - lastMessageAt;
      const staleAfter = () => Math.max(1_000, Math.floor((table.minTtl() ?? 15_000) * (2 / 3)));
      const watchdog = setInterval(() => {
        const t = now();
        if (table.size === 0) return;
        if (silentFor(t) > staleAfter()) {
          log.warn({ silentMs: silentFor(t) }, 'no fleet update within two renewals: watching the bucket again');
          lastMessageAt = t;
          table.forgive(t);
          current?.stop();
          return;
        }
        const dropped = table.prune(t);
        if (dropped.length > 0) log.warn({ gateways: dropped }, 'gateways dropped: their fleet entries were not renewed within their TTL');
        publish();
      }, WATCHDOG_MS);
      const watchOnce = async (conn: NatsConnection) => {
        const kv = await openFleetBucket(conn, bucket, BUCKET_MAX_AGE_MS, options.replicas ?? 1);
        const watch = await kv.watch({ key: '>' });
        current = watch;
        for await (const e of watch) {
          if (stopped) break;
          lastMessageAt = now();
          if (e.operation !== 'PUT') {
            table.delete(e.key);
          } else {
            const entry = readGatewayEntry(e.value);
            if (!entry || entry.id !== e.key) {
              log.warn({ key: e.key }, 'ignored a malformed fleet entry');
              continue;
            }
            // A history entry may be stale (its gateway gone): age it from when it was written.
            const seenAt = e.isUpdate ? now() : Math.min(now(), e.created.getTime());
            if (!table.put(entry, seenAt)) log.warn({ key: e.key, ignored: table.ignored }, 'ignored a gateway: the service holds its maximum');
          }
          table.prune(now());
          publish();
        }
      };
      const run = async () => {
        nc = await connectNats(options.servers, 'sluice-service', options.credentials);
        // Bounded retry: one attempt per WATCH_RETRY_MS at most, for as long as discovery runs.
        while (!stopped) {
          try {
            await watchOnce(nc);
          } catch (err) {
            if (!stopped) log.warn({ err: (err as Error).message }, 'fleet watch failed; watching again');
          }
          table.forgive(now());
          if (!stopped) await new Promise((r) => setTimeout(r, WATCH_RETRY_MS));
        }
      };
      run().catch((err: Error) => {
        if (!stopped) log.error({ err: err.message }, 'gateway discovery stopped');
      });
      return () => {
        stopped = true;
        clearInterval(watchdog);
        current?.stop();
        void nc?.close().catch(() => {});
      };
    },
  };
}

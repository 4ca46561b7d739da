/**
 * Services find the fleet's gateways in the NATS KV bucket the gateways
 * register in: a watch delivers every key's latest entry, then each write
 * and delete as it happens. Entries are aged on the service's clock
 * (gateway-table.ts), so a gateway that died without deleting its key is
 * dropped once its TTL passes.
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
  /** Gateways connected to at most; more are ignored (and logged). Default 64. */
  maxGateways?: number;
  logger?: Logger;
  /** Epoch ms; injectable for tests. */
  now?: () => number;
}

/** Storage age of entries when a service creates the bucket first (the gateways' own TTL rules aging; this only cleans up). */
const BUCKET_MAX_AGE_MS = 45_000;

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
      let pruneTimer: ReturnType<typeof setTimeout> | undefined;
      let last = '';
      const publish = () => {
        const urls = table.urls();
        const key = urls.join('\n');
        if (key === last) return;
        last = key;
        onChange(urls);
      };
      const schedulePrune = () => {
        clearTimeout(pruneTimer);
        const next = table.nextExpiry(now());
        if (next === undefined || stopped) return;
        pruneTimer = setTimeout(() => {
          const dropped = table.prune(now());
          if (dropped.length > 0) log.warn({ gateways: dropped }, 'gateways dropped: their fleet entries were not renewed within their TTL');
          publish();
          schedulePrune();
        }, next + 1);
      };
      const run = async () => {
        nc = await connectNats(options.servers, 'sluice-service', options.credentials);
        if (stopped) return void (await nc.close());
        const kv = await openFleetBucket(nc, bucket, BUCKET_MAX_AGE_MS);
        const watch = await kv.watch({ key: '>' });
        for await (const e of watch) {
          if (stopped) break;
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
          schedulePrune();
        }
      };
      run().catch((err: Error) => {
        if (!stopped) log.error({ err: err.message }, 'gateway discovery stopped');
      });
      return () => {
        stopped = true;
        clearTimeout(pruneTimer);
        void nc?.close().catch(() => {});
      };
    },
  };
}

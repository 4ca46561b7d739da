/**
 * A gateway announces itself to the fleet: one key per gateway in a NATS KV
 * bucket, holding the URLs services should connect to, re-written every
 * third of its TTL. A gateway that dies stops re-writing and services drop
 * it once the TTL passes; one that stops cleanly deletes its key first, so
 * services let go at once. NATS is the only shared state: no gateway knows
 * the others.
 */
import type { NatsConnection } from '@nats-io/nats-core';
import type { Logger } from '../observability/log.js';
import { writeGatewayEntry, type GatewayEntry } from './gateway-entry.js';
import { connectNats, openFleetBucket, type NatsCredentials } from './nats-connection.js';

export interface FleetRegistrationOptions {
  servers: readonly string[];
  /** The same credentials as the durable backend's (`nats.credentialsFile` / `nats.tokenFile`). */
  credentials?: NatsCredentials;
  bucket: string;
  /** JetStream replicas of the bucket when this gateway creates it. */
  replicas: number;
  entry: GatewayEntry;
  log: Logger;
}

export interface FleetRegistration {
  /** Successful writes of the entry so far (the first one included). */
  readonly writes: number;
  /** Deletes the key and closes the NATS connection. */
  stop(): Promise<void>;
}

/** Connects to NATS, writes the entry and keeps it fresh. Throws UNAVAILABLE when NATS or the bucket cannot be reached at start. */
export async function registerInFleet(options: FleetRegistrationOptions): Promise<FleetRegistration> {
  const { entry, log } = options;
  const nc: NatsConnection = await connectNats(options.servers, `sluice-gateway-${entry.id}`, options.credentials);
  // Storage keeps an entry three TTLs at most: services age entries themselves, this only cleans up.
  const kv = await openFleetBucket(nc, options.bucket, entry.ttlMs * 3, options.replicas).catch(async (err: unknown) => {
    await nc.close();
    throw err;
  });
  const value = writeGatewayEntry(entry);
  let writes = 0;
  let failing = false;
  let writing: Promise<void> | undefined;
  const write = (): Promise<void> =>
    (writing ??= kv
      .put(entry.id, value)
      .then(
        () => {
          writes++;
          if (failing) log.info({ id: entry.id }, 'fleet registration written again');
          failing = false;
        },
        (err: Error) => {
          // One line per failure streak: NATS being away is logged once, not every heartbeat.
          if (!failing) log.warn({ id: entry.id, err: err.message }, 'fleet registration not written; services will drop this gateway after its TTL unless NATS comes back');
          failing = true;
        },
      )
      .finally(() => (writing = undefined)));
  // A first write that fails (JetStream still settling) is not fatal: the heartbeat writes again within a third of the TTL.
  await write();
  const timer = setInterval(() => void write(), Math.max(100, Math.floor(entry.ttlMs / 3)));
  log.info({ id: entry.id, urls: entry.urls, bucket: options.bucket, ttlMs: entry.ttlMs }, 'registered in the fleet');
  let stopping: Promise<void> | undefined;
  return {
    get writes() {
      return writes;
    },
    stop: () =>
      (stopping ??= (async () => {
        clearInterval(timer);
        await writing;
        await kv.delete(entry.id).catch((err: Error) => log.warn({ id: entry.id, err: err.message }, 'fleet registration not deleted; services drop it after its TTL'));
        await nc.close();
      })()),
  };
}

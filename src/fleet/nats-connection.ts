/**
 * The one way Sluice opens a NATS connection. The NATS client is loaded
 * only when a fleet is configured (`nats.servers`), so a gateway or service
 * that never uses NATS never loads it. The connection reconnects by itself
 * (nats.js's own backoff), without limit: the fleet outlives NATS restarts.
 */
import { readFile } from 'node:fs/promises';
import type { NatsConnection } from '@nats-io/nats-core';
import { SluiceError } from '../errors.js';

/** Ms to wait for the first connection to a NATS server. */
export const NATS_CONNECT_TIMEOUT_MS = 5_000;

/** How to authenticate to NATS: a credentials file (JWT + nkey seed) or a token file; neither: the server's default user. */
export interface NatsCredentials {
  credentialsFile?: string | null;
  tokenFile?: string | null;
}

/** Connects to one of `servers` (`nats://host:4222`, or `host:port`); throws UNAVAILABLE naming them when none answers. */
export async function connectNats(servers: readonly string[], name: string, credentials: NatsCredentials = {}): Promise<NatsConnection> {
  const { connect, credsAuthenticator, tokenAuthenticator } = await import('@nats-io/transport-node');
  try {
    const authenticator = credentials.credentialsFile
      ? credsAuthenticator(new Uint8Array(await readFile(credentials.credentialsFile)))
      : credentials.tokenFile
        ? tokenAuthenticator((await readFile(credentials.tokenFile, 'utf8')).trim())
        : undefined;
    return await connect({ servers: [...servers], name, timeout: NATS_CONNECT_TIMEOUT_MS, maxReconnectAttempts: -1, reconnectTimeWait: 1_000, ...(authenticator ? { authenticator } : {}) });
  } catch (err) {
    throw new SluiceError('UNAVAILABLE', `cannot connect to NATS at ${servers.join(', ')}: ${(err as Error).message}`, { cause: err });
  }
}

/**
 * Opens the fleet's KV bucket, creating it when it does not exist: history
 * 1, entries kept at most `maxAgeMs` in storage, on `replicas` JetStream
 * nodes (3 in a cluster, so that losing one node loses nothing). An
 * existing bucket is opened as it is.
 */
export async function openFleetBucket(nc: NatsConnection, bucket: string, maxAgeMs: number, replicas = 1) {
  const { Kvm } = await import('@nats-io/kv');
  const kvm = new Kvm(nc);
  // Gateways starting together race to create the bucket, and a cluster may still be placing it: a few tries, then the error.
  for (let attempt = 1; ; attempt++) {
    try {
      return await kvm.create(bucket, { history: 1, ttl: maxAgeMs, replicas });
    } catch (err) {
      if (attempt >= BUCKET_ATTEMPTS) throw new SluiceError('UNAVAILABLE', `cannot open the NATS KV bucket '${bucket}': ${(err as Error).message}`, { cause: err });
      await new Promise((r) => setTimeout(r, 250 * attempt));
    }
  }
}

/** Tries at opening (or creating) the fleet bucket before giving up. */
const BUCKET_ATTEMPTS = 5;

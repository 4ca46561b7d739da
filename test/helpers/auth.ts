/**
 * Tokens and token-carrying peers for auth tests: a secret file made per
 * test, tokens minted with jose in the `sluice` claim format, and services
 * that register over a bare connection with a bearer entry in SETUP.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SignJWT } from 'jose';
import { bearerEntry } from '../../src/auth/bearer.js';
import type { Grant } from '../../src/auth/grant.js';
import { establish } from '../../src/client/connector.js';
import { nodeTransport } from '../../src/transport/client-transport.js';
import { registrationEntry } from '../../src/protocol/registration.js';
import type { MetadataEntry } from '../../src/protocol/metadata.js';
import { silentLogger } from '../../src/observability/log.js';
import { createServiceResponder } from '../../src/service/responder.js';
import type { RouteTable } from '../../src/service/handlers.js';
import type { Connection } from '../../src/rsocket/connection.js';
import type { Harness } from './harness.js';

export const SECRET = '0123456789abcdef0123456789abcdef-test-secret';

/** Writes SECRET to a file removed after the test; returns its path. */
export async function secretFile(h: Harness): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'sluice-auth-'));
  h.onCleanup(() => rm(dir, { recursive: true, force: true }));
  const path = join(dir, 'secret');
  await writeFile(path, `${SECRET}\n`);
  return path;
}

export interface MintOptions {
  /** Seconds from now; negative for an expired token. Default none. */
  ttlSec?: number;
  /** Seconds from now before which the token is not valid. */
  nbfSec?: number;
  iss?: string;
  aud?: string;
  secret?: string;
  /** The minting time, epoch ms (default Date.now()): a test that waits for `exp` computes it from the same instant. */
  now?: number;
}

/** An HS256 token for `sub` carrying `grant` in the `sluice` claim. */
export function mint(sub: string, grant: Partial<Grant> = {}, o: MintOptions = {}): Promise<string> {
  const now = Math.floor((o.now ?? Date.now()) / 1000);
  let jwt = new SignJWT({ sluice: grant }).setProtectedHeader({ alg: 'HS256' }).setSubject(sub).setIssuedAt();
  if (o.ttlSec !== undefined) jwt = jwt.setExpirationTime(now + o.ttlSec);
  if (o.nbfSec !== undefined) jwt = jwt.setNotBefore(now + o.nbfSec);
  if (o.iss) jwt = jwt.setIssuer(o.iss);
  if (o.aud) jwt = jwt.setAudience(o.aud);
  return jwt.sign(new TextEncoder().encode(o.secret ?? SECRET));
}

/** SETUP metadata presenting `token`. */
export function withToken(token: string | undefined): MetadataEntry[] {
  return token === undefined ? [] : [bearerEntry(token)];
}

/** A service instance registered over a bare connection presenting `token`; closed after the test. */
export async function tokenService(h: Harness, url: string, token: string | undefined, service: string, instance: string, routes: RouteTable): Promise<Connection> {
  const declared = Object.entries(routes).map(([name, r]) => ({ name, idempotent: r.idempotent ?? false }));
  const conn = await establish(nodeTransport, {
    url,
    setupMetadata: [registrationEntry({ service, instance, routes: declared }), ...withToken(token)],
    responder: createServiceResponder(routes, silentLogger),
  });
  h.onCleanup(() => conn.close());
  return conn;
}

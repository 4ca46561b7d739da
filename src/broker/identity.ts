/**
 * Who a connection is, for per-client policies (rate limits): the
 * authentication entry of its SETUP metadata when there is one
 * (message/x.rsocket.authentication.v0: simple -> `user:<name>`, bearer ->
 * `token:<sha256 prefix>`, never the secret itself), otherwise its IP address.
 */
import { createHash } from 'node:crypto';
import { MimeTypes, decodeComposite } from '../protocol/metadata.js';
import type { SetupFrame } from '../protocol/frames.js';

const SIMPLE = 0x00;
const BEARER = 0x01;

export function identityOf(setup: SetupFrame | undefined, remoteAddress: string): string {
  const auth = authEntry(setup);
  if (auth && auth.length > 0) {
    const first = auth[0]!;
    if (first & 0x80) {
      const type = first & 0x7f;
      const body = auth.subarray(1);
      if (type === SIMPLE && body.length >= 2) {
        const len = (body[0]! << 8) | body[1]!;
        return `user:${new TextDecoder().decode(body.subarray(2, 2 + len))}`;
      }
      if (type === BEARER) return `token:${createHash('sha256').update(body).digest('hex').slice(0, 16)}`;
    }
    return `auth:${createHash('sha256').update(auth).digest('hex').slice(0, 16)}`;
  }
  return `ip:${remoteAddress.replace(/:\d+$/, '')}`;
}

function authEntry(setup: SetupFrame | undefined): Uint8Array | undefined {
  if (!setup?.metadata || setup.metadata.length === 0) return undefined;
  try {
    return decodeComposite(setup.metadata).find((e) => e.mimeType === MimeTypes.AUTHENTICATION)?.content;
  } catch {
    return undefined;
  }
}

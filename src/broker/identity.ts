/**
 * Who a connection is for per-client policies (rate limits) when auth is off:
 * the authentication entry of its SETUP metadata when there is one
 * (message/x.rsocket.authentication.v0: simple -> `user:<name>`, bearer ->
 * `token:<sha256 prefix>`, never the secret itself), otherwise its IP address.
 * With auth on, the verified principal's id is the identity instead.
 */
import { createHash } from 'node:crypto';
import { MimeTypes, type MetadataEntry } from '../protocol/metadata.js';

const SIMPLE = 0x00;
const BEARER = 0x01;

export function identityOf(setupEntries: readonly MetadataEntry[], remoteAddress: string): string {
  const auth = setupEntries.find((e) => e.mimeType === MimeTypes.AUTHENTICATION)?.content;
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

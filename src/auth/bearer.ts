/**
 * The bearer token in composite metadata: the RSocket authentication
 * extension's entry (`message/x.rsocket.authentication.v0`, well-known id
 * 0x7C) whose first byte is the well-known auth type `bearer` (0x81), followed
 * by the token as UTF-8. Clients write it in SETUP and in METADATA_PUSH (token
 * refresh); the gateway reads it here. Isomorphic.
 */
import { SluiceError } from '../errors.js';
import { MimeTypes, type MetadataEntry } from '../protocol/metadata.js';

/** Well-known auth type ids of the authentication extension. */
const SIMPLE = 0x00;
const BEARER = 0x01;

/** Largest token accepted, in bytes: a grant is a few hundred bytes; anything near this is not a Sluice token. */
export const MAX_TOKEN_BYTES = 8192;

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

/** The composite entry carrying `token` as a bearer credential. */
export function bearerEntry(token: string): MetadataEntry {
  const t = encoder.encode(token);
  const content = new Uint8Array(1 + t.length);
  content[0] = 0x80 | BEARER;
  content.set(t, 1);
  return { mimeType: MimeTypes.AUTHENTICATION, content };
}

/**
 * The bearer token among `entries`: undefined when there is no
 * authentication entry. Throws UNAUTHENTICATED when there is one that is not
 * a well-formed bearer token (another auth type, empty, too long, not UTF-8).
 */
export function readBearer(entries: readonly MetadataEntry[]): string | undefined {
  const entry = entries.find((e) => e.mimeType === MimeTypes.AUTHENTICATION);
  if (!entry) return undefined;
  const c = entry.content;
  if (c.length === 0) throw unauthenticated('the authentication entry is empty');
  const first = c[0]!;
  if (!(first & 0x80)) throw unauthenticated('custom authentication types are not supported; send a bearer token (well-known auth type 0x01)');
  const type = first & 0x7f;
  if (type === SIMPLE) throw unauthenticated('simple (user/password) authentication is not supported; send a bearer token');
  if (type !== BEARER) throw unauthenticated(`authentication type 0x${type.toString(16)} is not supported; send a bearer token (0x01)`);
  const body = c.subarray(1);
  if (body.length === 0) throw unauthenticated('the bearer token is empty');
  if (body.length > MAX_TOKEN_BYTES) throw unauthenticated(`the bearer token is ${body.length} bytes, over the ${MAX_TOKEN_BYTES}-byte limit`);
  try {
    return decoder.decode(body);
  } catch {
    throw unauthenticated('the bearer token is not valid UTF-8');
  }
}

function unauthenticated(message: string): SluiceError {
  return new SluiceError('UNAUTHENTICATED', message);
}

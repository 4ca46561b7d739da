/**
 * Standard Webhooks signatures (standardwebhooks.com): a receiver checks
 * that a delivery came from this gateway and was not replayed, with any
 * Standard Webhooks library. The signed content is `<id>.<timestamp>.<body>`,
 * HMAC-SHA256 keyed by the secret's bytes; the secret is shown as `whsec_`
 * and base64.
 */
import { createHmac, randomBytes } from 'node:crypto';

const PREFIX = 'whsec_';

/** A new secret: 32 random bytes, `whsec_` + base64. */
export function newWebhookSecret(): string {
  return PREFIX + randomBytes(32).toString('base64');
}

/** Whether `secret` is a `whsec_` secret of 24 to 64 bytes. */
export function isWebhookSecret(secret: unknown): secret is string {
  if (typeof secret !== 'string' || !secret.startsWith(PREFIX)) return false;
  const b64 = secret.slice(PREFIX.length);
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(b64)) return false;
  const n = Buffer.from(b64, 'base64').length;
  return n >= 24 && n <= 64;
}

/** The three headers of one delivery attempt. `timestampSec`: Unix seconds of this attempt (a retry is signed anew). */
export function signatureHeaders(secret: string, id: string, timestampSec: number, body: string): Record<'webhook-id' | 'webhook-timestamp' | 'webhook-signature', string> {
  const key = Buffer.from(secret.slice(PREFIX.length), 'base64');
  const mac = createHmac('sha256', key).update(`${id}.${timestampSec}.${body}`).digest('base64');
  return { 'webhook-id': id, 'webhook-timestamp': String(timestampSec), 'webhook-signature': `v1,${mac}` };
}

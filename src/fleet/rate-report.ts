/**
 * What a gateway tells the fleet each interval about its rate-limited keys:
 * per key (a route and an identity, hashed into a tag), how many takes per
 * second callers asked of it. Other gateways only ever lower their own
 * rates from these numbers, never raise them above a route's policy, and
 * the strict reading here drops a whole message that is malformed rather
 * than use part of it. Isomorphic; no NATS code here.
 *
 * Wire form (JSON): `{"v":1,"gw":"<gateway id>","ms":<interval>,"k":["<tag>",<rate>,...]}`.
 * Tags are fixed-size hashes, so an identity never travels in clear and a
 * report of `MAX_REPORT_KEYS` keys stays far below NATS's 1 MiB payload.
 */
import { isGatewayId } from './gateway-entry.js';
import { readJsonObject } from './json-object.js';

/** Keys one report carries at most (the `fleet.rateMaxKeys` ceiling). */
export const MAX_REPORT_KEYS = 5_000;

/** A report larger than this is malformed: 5,000 keys of at most 40 bytes each, and room for the envelope. */
export const MAX_REPORT_BYTES = 256 * 1024;

/** Highest rate a report may state, per second; above it the report is malformed. */
const MAX_RATE = 1e9;

/** A key's tag: 16 characters of base64url (96 bits of a SHA-256). */
const TAG = /^[A-Za-z0-9_-]{16}$/;

export interface RateReport {
  /** The reporting gateway's `fleet.id`. */
  gateway: string;
  /** Its interval in ms: its numbers are stale after a few of them. */
  intervalMs: number;
  /** Per key tag, takes per second asked of that gateway in its last interval; 0: it no longer sees the key. */
  rates: Array<[tag: string, perSec: number]>;
}

/** Whether `tag` has the shape of a key tag. */
export function isKeyTag(tag: unknown): tag is string {
  return typeof tag === 'string' && TAG.test(tag);
}

export function writeRateReport(report: RateReport): Uint8Array {
  const k: Array<string | number> = [];
  // Three decimals are plenty for a rate and keep the size per key bounded.
  for (const [tag, perSec] of report.rates) k.push(tag, Math.round(perSec * 1000) / 1000);
  return new TextEncoder().encode(JSON.stringify({ v: 1, gw: report.gateway, ms: report.intervalMs, k }));
}

/** The report in `bytes`, or undefined when it is not one (too big, bad JSON, wrong version or shape, a bad tag or rate). */
export function readRateReport(bytes: Uint8Array): RateReport | undefined {
  if (bytes.length > MAX_REPORT_BYTES) return undefined;
  const v = readJsonObject(bytes);
  if (!v) return undefined;
  const { v: version, gw, ms, k } = v;
  if (version !== 1 || !isGatewayId(gw)) return undefined;
  if (typeof ms !== 'number' || !Number.isInteger(ms) || ms < 10 || ms > 600_000) return undefined;
  if (!Array.isArray(k) || k.length % 2 !== 0 || k.length > MAX_REPORT_KEYS * 2) return undefined;
  const rates: RateReport['rates'] = [];
  for (let i = 0; i < k.length; i += 2) {
    const tag: unknown = k[i];
    const perSec: unknown = k[i + 1];
    if (!isKeyTag(tag) || typeof perSec !== 'number' || !Number.isFinite(perSec) || perSec < 0 || perSec > MAX_RATE) return undefined;
    rates.push([tag, perSec]);
  }
  return { gateway: gw, intervalMs: ms, rates };
}

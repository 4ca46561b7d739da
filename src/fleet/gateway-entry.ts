/**
 * What a gateway writes under its key in the fleet's NATS KV bucket, and the
 * strict reading of it: services act on these entries (they connect to the
 * URLs and present their token there), so a malformed one is ignored, never
 * half-used. Isomorphic; no NATS code here.
 */
import { readJsonObject } from './json-object.js';

/** Default bucket name; one bucket per fleet. */
export const DEFAULT_FLEET_BUCKET = 'sluice_gateways';

/** Most URLs one gateway may advertise (WebSocket, TCP, each with and without TLS, a few names). */
export const MAX_ADVERTISED_URLS = 8;

export interface GatewayEntry {
  /** The gateway's id: its key in the bucket. */
  id: string;
  /** Where services reach it, preferred first. */
  urls: string[];
  /** The entry counts as gone this long after it was last written, in ms (the gateway re-writes it every third of it). */
  ttlMs: number;
}

const SCHEMES = new Set(['ws:', 'wss:', 'tcp:', 'tls:']);

/** A KV key and NATS subject token: letters, digits, `-`, `_`, at most 64 characters. */
export function isGatewayId(id: unknown): id is string {
  return typeof id === 'string' && /^[A-Za-z0-9_-]{1,64}$/.test(id);
}

/** A gateway URL a service can connect to: ws://, wss://, tcp:// or tls:// with a host. */
export function isGatewayUrl(url: unknown): url is string {
  if (typeof url !== 'string' || url.length > 2048) return false;
  try {
    const u = new URL(url);
    return SCHEMES.has(u.protocol) && u.hostname.length > 0;
  } catch {
    return false;
  }
}

/** The entry in `bytes`, or undefined when it is not one (bad JSON, wrong shape, bad id or URL, out-of-range TTL). */
export function readGatewayEntry(bytes: Uint8Array): GatewayEntry | undefined {
  const v = readJsonObject(bytes);
  if (!v) return undefined;
  const { id, urls, ttlMs } = v;
  if (!isGatewayId(id)) return undefined;
  if (!Array.isArray(urls) || urls.length === 0 || urls.length > MAX_ADVERTISED_URLS || !urls.every(isGatewayUrl)) return undefined;
  if (typeof ttlMs !== 'number' || !Number.isInteger(ttlMs) || ttlMs < 1_000 || ttlMs > 3_600_000) return undefined;
  return { id, urls: [...urls], ttlMs };
}

export function writeGatewayEntry(entry: GatewayEntry): Uint8Array {
  return new TextEncoder().encode(JSON.stringify({ id: entry.id, urls: entry.urls, ttlMs: entry.ttlMs }));
}

/**
 * The one strict reading of what gateways write to each other through NATS
 * (bucket entries, rate reports): UTF-8 JSON holding an object, or nothing.
 * Each reader then checks its own fields and drops the whole message on any
 * doubt, so a malformed message is never half-used. Isomorphic.
 */
import { decodeText } from '../protocol/json.js';

/** The JSON object in `bytes`, or undefined when they are not UTF-8 JSON or hold something else (an array, a number, null). */
export function readJsonObject(bytes: Uint8Array): Record<string, unknown> | undefined {
  let v: unknown;
  try {
    v = JSON.parse(decodeText(bytes));
  } catch {
    return undefined;
  }
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
}

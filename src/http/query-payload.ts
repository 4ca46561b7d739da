/**
 * The JSON payload of a GET on the HTTP bridge, from its query string, so
 * that polling needs no body: each parameter becomes a string member
 * (`?orderId=o-1` -> `{"orderId":"o-1"}`), a repeated one an array of
 * strings, and no query at all `{}`. Values stay strings: a service that
 * needs numbers or nested objects over HTTP is called with POST.
 */
import { SluiceError } from '../errors.js';

export function queryPayload(search: URLSearchParams): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = Object.create(null) as Record<string, string | string[]>;
  for (const [key, value] of search) {
    if (key.length === 0) throw new SluiceError('INVALID_ARGUMENT', 'query: a parameter has an empty name');
    const seen = out[key];
    if (seen === undefined) out[key] = value;
    else if (Array.isArray(seen)) seen.push(value);
    else out[key] = [seen, value];
  }
  return { ...out };
}

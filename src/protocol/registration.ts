/**
 * Service registration: a service declares who it is and which routes it
 * serves in its SETUP frame, as a composite metadata entry of MIME type
 * `application/x.sluice.registration+json` whose content is UTF-8 JSON:
 *
 *   {"service": "payment", "instance": "payment-1", "routes": ["payment.authorize", {"name": "payment.refund", "idempotent": true}]}
 *
 * Isomorphic: the service side encodes, the gateway decodes and validates.
 */
import { SluiceError } from '../errors.js';
import { decodeJson, encodeJson } from './json.js';
import { MimeTypes, decodeComposite, findEntry, type MetadataEntry } from './metadata.js';

export interface RouteDeclaration {
  readonly name: string;
  /** Safe to retry: the service handles duplicates (see docs/resilience). */
  readonly idempotent: boolean;
}

export interface Registration {
  readonly service: string;
  readonly instance: string;
  readonly routes: readonly RouteDeclaration[];
}

export const MAX_ROUTES_PER_INSTANCE = 256;
const NAME = /^[A-Za-z0-9][A-Za-z0-9_.:/-]{0,254}$/;

/** True for a valid service, instance or route name: 1-255 characters from [A-Za-z0-9_.:/-], starting with a letter or digit. */
export function isName(value: unknown): value is string {
  return typeof value === 'string' && NAME.test(value);
}

export function registrationEntry(reg: { service: string; instance: string; routes: readonly (string | RouteDeclaration)[] }): MetadataEntry {
  return { mimeType: MimeTypes.REGISTRATION, content: encodeJson(reg) };
}

/** The registration in SETUP metadata, undefined for plain clients. Throws REJECTED_SETUP naming the problem. */
export function readRegistration(setupMetadata: Uint8Array | null): Registration | undefined {
  if (!setupMetadata || setupMetadata.length === 0) return undefined;
  let entries: MetadataEntry[];
  try {
    entries = decodeComposite(setupMetadata);
  } catch (err) {
    throw new SluiceError('INVALID_SETUP', `setup metadata: ${(err as Error).message}`);
  }
  const entry = findEntry(entries, MimeTypes.REGISTRATION);
  if (!entry) return undefined;
  let json: unknown;
  try {
    json = decodeJson(entry.content);
  } catch (err) {
    throw new SluiceError('REJECTED_SETUP', `registration: ${(err as Error).message}`);
  }
  return parseRegistration(json);
}

export function parseRegistration(json: unknown): Registration {
  const reject = (msg: string): never => {
    throw new SluiceError('REJECTED_SETUP', `registration: ${msg}`);
  };
  if (typeof json !== 'object' || json === null || Array.isArray(json)) return reject('must be a JSON object');
  const obj = json as Record<string, unknown>;
  const name = (field: string, value: unknown): string => {
    if (typeof value !== 'string' || !NAME.test(value)) {
      return reject(`'${field}' must be a string of 1-255 characters from [A-Za-z0-9_.:/-] starting with a letter or digit`);
    }
    return value;
  };
  const service = name('service', obj.service);
  const instance = name('instance', obj.instance);
  if (!Array.isArray(obj.routes) || obj.routes.length === 0) return reject("'routes' must be a non-empty array");
  if (obj.routes.length > MAX_ROUTES_PER_INSTANCE) return reject(`'routes' has ${obj.routes.length} entries, at most ${MAX_ROUTES_PER_INSTANCE}`);
  const routes = obj.routes.map((r: unknown, i: number): RouteDeclaration => {
    if (typeof r === 'string') return { name: name(`routes[${i}]`, r), idempotent: false };
    if (typeof r !== 'object' || r === null) return reject(`'routes[${i}]' must be a string or an object`);
    const o = r as Record<string, unknown>;
    if (o.idempotent !== undefined && typeof o.idempotent !== 'boolean') return reject(`'routes[${i}].idempotent' must be a boolean`);
    return { name: name(`routes[${i}].name`, o.name), idempotent: o.idempotent === true };
  });
  return { service, instance, routes };
}

/**
 * Sluice errors as HTTP answers: one status per error code (the table in
 * docs/protocol.md, checked by a test) and an `application/problem+json`
 * body per RFC 9457 carrying the stable code beside the standard members,
 * so an HTTP caller branches on the same codes an RSocket caller does.
 */
import type { ServerResponse } from 'node:http';
import type { ErrorCode, SluiceError } from '../errors.js';

/**
 * The HTTP status of each code. OVERLOADED is 429 when it is the caller's
 * own rate limit (the error carries `retryAfterMs`) and 503 otherwise.
 * Codes only a connection can cause (frames, SETUP, keepalive) map to 502:
 * over HTTP they can only come from the instance side.
 */
export const HTTP_STATUS: Readonly<Record<ErrorCode, number>> = {
  NO_ROUTE: 404,
  OVERLOADED: 503,
  CIRCUIT_OPEN: 503,
  RESUME_UNSUPPORTED: 409,
  PERMISSION_DENIED: 403,
  INVALID_ARGUMENT: 400,
  DEADLINE_EXCEEDED: 504,
  UNAVAILABLE: 503,
  // Raised by the client library only; listed so that every code has a status.
  OUTCOME_UNKNOWN: 502,
  BUFFER_OVERFLOW: 502,
  INTERNAL: 502,
  POISON_MESSAGE: 422,
  DEMAND_EXCEEDED: 502,
  PAYLOAD_TOO_LARGE: 413,
  FRAGMENT_TIMEOUT: 502,
  PROTOCOL_VIOLATION: 502,
  MALFORMED_FRAME: 502,
  INVALID_SETUP: 502,
  UNSUPPORTED_SETUP: 502,
  REJECTED_SETUP: 502,
  UNAUTHENTICATED: 401,
  KEEPALIVE_TIMEOUT: 502,
  SLOW_CONSUMER: 502,
  CONNECTION_CLOSED: 503,
  CANCELED: 503,
};

const TITLES: Partial<Record<number, string>> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  406: 'Not Acceptable',
  409: 'Conflict',
  413: 'Content Too Large',
  415: 'Unsupported Media Type',
  422: 'Unprocessable Content',
  429: 'Too Many Requests',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
};

/** RFC 9457 problem details, plus Sluice's stable `code`. */
export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  code: ErrorCode;
}

/** The status of `error` (see HTTP_STATUS). */
export function statusOf(error: SluiceError): number {
  if (error.code === 'OVERLOADED' && typeof error.details?.retryAfterMs === 'number') return 429;
  return HTTP_STATUS[error.code];
}

/** The problem document of `error`; `status` overrides the code's own (405, 415). */
export function problemOf(error: SluiceError, status = statusOf(error)): Problem {
  return { type: `urn:sluice:error:${error.code}`, title: TITLES[status] ?? 'Error', status, detail: error.message, code: error.code };
}

/**
 * Writes `error` as problem+json. Adds `Retry-After` (whole seconds, at
 * least 1) to refusals worth retrying, and `WWW-Authenticate: Bearer` to
 * 401s. `extra` headers go too (`Allow` on a 405).
 */
export function sendProblem(res: ServerResponse, error: SluiceError, options: { status?: number; headers?: Record<string, string> } = {}): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const problem = problemOf(error, options.status);
  const headers: Record<string, string> = { 'content-type': 'application/problem+json', 'cache-control': 'no-store', ...options.headers };
  const retryAfter = retryAfterSeconds(error);
  if (retryAfter !== undefined) headers['retry-after'] = String(retryAfter);
  if (problem.status === 401) headers['www-authenticate'] = `Bearer realm="sluice", error="invalid_token", error_description=${quoted(error.message)}`;
  res.writeHead(problem.status, headers).end(JSON.stringify(problem));
}

function retryAfterSeconds(error: SluiceError): number | undefined {
  const ms = error.details?.retryAfterMs;
  if (typeof ms === 'number') return Math.max(1, Math.ceil(ms / 1000));
  if (error.code === 'OVERLOADED' || error.code === 'CIRCUIT_OPEN' || error.code === 'UNAVAILABLE') return 1;
  return undefined;
}

/** An RFC 9110 quoted-string of printable ASCII (anything else becomes '?'). */
function quoted(text: string): string {
  return `"${text.replace(/[^\x20-\x7e]/g, '?').replace(/["\\]/g, '\\$&').slice(0, 200)}"`;
}

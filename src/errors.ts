/**
 * The one error catalogue of Sluice. Every failure that crosses a process
 * boundary carries a stable string code; on the wire it travels as an RSocket
 * ERROR frame whose 32-bit code is the mapped RSocket code and whose message is
 * `"<CODE>: <human text>"`, so any RSocket client can read the code without
 * Sluice code. docs/protocol.md documents every code (a unit test checks it).
 *
 * This module is isomorphic: browser and Node clients share it.
 */

/** RSocket 1.0 error codes (spec, "Error Codes"). */
export const WireCode = {
  INVALID_SETUP: 0x00000001,
  UNSUPPORTED_SETUP: 0x00000002,
  REJECTED_SETUP: 0x00000003,
  REJECTED_RESUME: 0x00000004,
  CONNECTION_ERROR: 0x00000101,
  CONNECTION_CLOSE: 0x00000102,
  APPLICATION_ERROR: 0x00000201,
  REJECTED: 0x00000202,
  CANCELED: 0x00000203,
  INVALID: 0x00000204,
} as const;
export type WireCode = (typeof WireCode)[keyof typeof WireCode];

/**
 * Stable Sluice error codes and the RSocket code each one travels as.
 * Stream-level codes end one stream; connection-level codes (wire codes
 * 0x001-0x102) end the whole connection.
 */
export const ErrorCodes = {
  /** No connected instance serves the requested route. */
  NO_ROUTE: WireCode.REJECTED,
  /** A limit was reached (bulkhead, rate limit, in-flight streams); retry later. */
  OVERLOADED: WireCode.REJECTED,
  /** The route's circuit breaker is open; the call was not attempted. */
  CIRCUIT_OPEN: WireCode.REJECTED,
  /**
   * The caller asked to resume a stream from a position (an SSE
   * `Last-Event-ID`) on a route that cannot resume: nothing was started; the
   * caller may start the stream again from the beginning, knowingly.
   */
  RESUME_UNSUPPORTED: WireCode.REJECTED,
  /** The caller's grant does not allow this route (call, registration or a gateway route); the message names the route. */
  PERMISSION_DENIED: WireCode.REJECTED,
  /** The request or its metadata is invalid; the message names the field. */
  INVALID_ARGUMENT: WireCode.APPLICATION_ERROR,
  /** The request's deadline passed before it completed. */
  DEADLINE_EXCEEDED: WireCode.APPLICATION_ERROR,
  /** The instance serving the stream went away, or the gateway is draining. */
  UNAVAILABLE: WireCode.APPLICATION_ERROR,
  /**
   * Client side: the connection to the gateway was lost after the request
   * was sent and before its answer: it may or may not have been carried
   * out. Raised for requests not marked idempotent (idempotent ones are
   * retried on the next connection). Never sent on the wire.
   */
  OUTCOME_UNKNOWN: WireCode.APPLICATION_ERROR,
  /** A service-side producer outran demand and its bounded buffer overflowed. */
  BUFFER_OVERFLOW: WireCode.APPLICATION_ERROR,
  /** The handler failed with an error that carried no Sluice code. */
  INTERNAL: WireCode.APPLICATION_ERROR,
  /** The service refuses this message for good (it can never be processed); dead-lettered where the route's policy says so. */
  POISON_MESSAGE: WireCode.APPLICATION_ERROR,
  /** The peer sent more payloads than it was granted with REQUEST_N. */
  DEMAND_EXCEEDED: WireCode.INVALID,
  /** A payload (or its reassembled fragments) is over the size limit. */
  PAYLOAD_TOO_LARGE: WireCode.INVALID,
  /** A fragmented payload was not completed within the fragment timeout; its fragments were dropped. */
  FRAGMENT_TIMEOUT: WireCode.INVALID,
  /** A frame broke the protocol's stream rules (stream ids, frame order). */
  PROTOCOL_VIOLATION: WireCode.CONNECTION_ERROR,
  /** Bytes that do not decode as an RSocket frame. */
  MALFORMED_FRAME: WireCode.CONNECTION_ERROR,
  /** The SETUP frame is missing, late or invalid. */
  INVALID_SETUP: WireCode.INVALID_SETUP,
  /** The SETUP asks for something Sluice does not do (lease, resume, other MIME types). */
  UNSUPPORTED_SETUP: WireCode.UNSUPPORTED_SETUP,
  /** The SETUP is well formed but refused (bad or unauthorised service registration). */
  REJECTED_SETUP: WireCode.REJECTED_SETUP,
  /** A credential is required and missing, or it is malformed, expired, badly signed or from an unknown issuer; the message says which. */
  UNAUTHENTICATED: WireCode.REJECTED_SETUP,
  /** The peer sent nothing for longer than the keepalive max lifetime. */
  KEEPALIVE_TIMEOUT: WireCode.CONNECTION_ERROR,
  /** The peer does not read its socket and stayed over the outbound byte cap. */
  SLOW_CONSUMER: WireCode.CONNECTION_ERROR,
  /** The connection is closing normally (shutdown, drain). */
  CONNECTION_CLOSED: WireCode.CONNECTION_CLOSE,
  /** The stream was cancelled. */
  CANCELED: WireCode.CANCELED,
} as const satisfies Record<string, WireCode>;

export type ErrorCode = keyof typeof ErrorCodes;

const CODE_PREFIX = /^([A-Z][A-Z0-9_]+): ?/;
const RETRY_AFTER = /retry after (\d{1,10}) ms/;

const WIRE_FALLBACK: Record<number, ErrorCode> = {
  [WireCode.INVALID_SETUP]: 'INVALID_SETUP',
  [WireCode.UNSUPPORTED_SETUP]: 'UNSUPPORTED_SETUP',
  [WireCode.REJECTED_SETUP]: 'REJECTED_SETUP',
  [WireCode.REJECTED_RESUME]: 'UNSUPPORTED_SETUP',
  [WireCode.CONNECTION_ERROR]: 'PROTOCOL_VIOLATION',
  [WireCode.CONNECTION_CLOSE]: 'CONNECTION_CLOSED',
  [WireCode.APPLICATION_ERROR]: 'INTERNAL',
  [WireCode.REJECTED]: 'OVERLOADED',
  [WireCode.CANCELED]: 'CANCELED',
  [WireCode.INVALID]: 'PROTOCOL_VIOLATION',
};

export function isErrorCode(value: string): value is ErrorCode {
  return Object.prototype.hasOwnProperty.call(ErrorCodes, value);
}

/** The single error type of Sluice: a stable `code`, a message, an optional `cause`. */
export class SluiceError extends Error {
  override readonly name = 'SluiceError';
  readonly code: ErrorCode;
  /** Extra machine-readable detail (for example `retryAfterMs`), never required. */
  readonly details: Readonly<Record<string, unknown>> | undefined;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown; details?: Record<string, unknown> }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.details = options?.details;
  }

  /** The RSocket error code this error travels as. */
  get wireCode(): WireCode {
    return ErrorCodes[this.code];
  }

  /** The ERROR frame message: `"<CODE>: <message>"`. */
  toWireMessage(): string {
    return `${this.code}: ${this.message}`;
  }

  /**
   * Rebuilds an error received in an ERROR frame. A `retry after N ms` hint in
   * the message (OVERLOADED by a rate limit, CIRCUIT_OPEN) comes back as
   * `details.retryAfterMs`.
   */
  static fromWire(wireCode: number, message: string): SluiceError {
    const retryAfter = RETRY_AFTER.exec(message);
    const options = retryAfter ? { details: { retryAfterMs: Number(retryAfter[1]) } } : undefined;
    const match = CODE_PREFIX.exec(message);
    const named = match?.[1];
    if (named !== undefined && isErrorCode(named)) {
      return SluiceError.withoutStack(named, message.slice(match![0].length), options);
    }
    return SluiceError.withoutStack(WIRE_FALLBACK[wireCode] ?? 'INTERNAL', message, options);
  }

  /**
   * An error for an event rather than a fault (a peer's ERROR frame, a
   * requester's cancel), built without capturing a stack trace: the stack
   * would only show the frame dispatch that noticed it, and capturing it was
   * the largest single cost of cancelling a stream in the service's profile.
   */
  static withoutStack(code: ErrorCode, message: string, options?: { cause?: unknown; details?: Record<string, unknown> }): SluiceError {
    const limit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    try {
      return new SluiceError(code, message, options);
    } finally {
      Error.stackTraceLimit = limit;
    }
  }

  /** Any thrown value as a SluiceError; plain errors become `INTERNAL`. */
  static from(value: unknown): SluiceError {
    if (value instanceof SluiceError) return value;
    if (value instanceof Error) return new SluiceError('INTERNAL', value.message, { cause: value });
    return new SluiceError('INTERNAL', String(value));
  }
}

export function isSluiceError(value: unknown, code?: ErrorCode): value is SluiceError {
  return value instanceof SluiceError && (code === undefined || value.code === code);
}

/**
 * W3C Trace Context carried in composite metadata, so a trace crosses every
 * RSocket hop (client -> gateway -> service -> gateway -> service) without
 * any party needing a tracing SDK to pass it on. Isomorphic: the browser
 * client propagates it with nothing but this file.
 *
 * Composite metadata entry `message/x.sluice.trace-context.v0`, content
 * US-ASCII: the `traceparent` header value, then optionally a line feed and
 * the `tracestate` header value (docs/protocol.md, "Trace context").
 *
 * Per the W3C spec a malformed `traceparent` is not an error: the receiver
 * ignores it and starts a new trace. Only the offending entry is dropped; the
 * request goes on.
 */
import type { MetadataEntry } from './metadata.js';

export const TRACE_CONTEXT_MIME = 'message/x.sluice.trace-context.v0';

/** A W3C trace context: what one span hands to the next hop. */
export interface TraceContext {
  /** `00-<32 hex trace id>-<16 hex parent span id>-<2 hex flags>`. */
  readonly traceparent: string;
  /** Vendor entries, at most MAX_TRACESTATE_LENGTH characters; absent when empty. */
  readonly tracestate?: string;
}

/** The parts of a valid `traceparent`. */
export interface ParsedTraceparent {
  readonly traceId: string;
  readonly spanId: string;
  /** Bit 0: sampled. */
  readonly flags: number;
}

/** The W3C spec's bound on what a receiver must propagate; longer tracestate values are dropped, not cut. */
export const MAX_TRACESTATE_LENGTH = 512;

const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/;
const ZERO_TRACE = '0'.repeat(32);
const ZERO_SPAN = '0'.repeat(16);
const encoder = new TextEncoder();

/** Parses a `traceparent` value; undefined when it is not a valid one (version ff, zero ids, bad hex). */
export function parseTraceparent(value: string): ParsedTraceparent | undefined {
  const m = TRACEPARENT.exec(value);
  if (!m) return undefined;
  const [, version, traceId, spanId, flags, rest] = m as unknown as [string, string, string, string, string, string | undefined];
  // Version 00 has exactly four fields; later versions may append more, which version-00 readers ignore.
  if (version === 'ff' || (version === '00' && rest !== undefined)) return undefined;
  if (traceId === ZERO_TRACE || spanId === ZERO_SPAN) return undefined;
  return { traceId, spanId, flags: Number.parseInt(flags, 16) };
}

/** Formats a version-00 `traceparent`. */
export function formatTraceparent(p: ParsedTraceparent): string {
  return `00-${p.traceId}-${p.spanId}-${(p.flags & 0xff).toString(16).padStart(2, '0')}`;
}

/** The metadata entry carrying `ctx`. Throws RangeError when `ctx.traceparent` is not a valid one. */
export function traceContextEntry(ctx: TraceContext): MetadataEntry {
  if (!parseTraceparent(ctx.traceparent)) throw new RangeError(`not a W3C traceparent: ${JSON.stringify(ctx.traceparent)}`);
  const state = usableTracestate(ctx.tracestate);
  return { mimeType: TRACE_CONTEXT_MIME, content: encoder.encode(state ? `${ctx.traceparent}\n${state}` : ctx.traceparent) };
}

/**
 * The trace context of a request's metadata, or undefined when it carries
 * none or a malformed one (then the receiver starts a new trace, as the W3C
 * spec says). Never throws.
 */
export function readTraceContext(entries: readonly MetadataEntry[]): TraceContext | undefined {
  const entry = entries.find((e) => e.mimeType === TRACE_CONTEXT_MIME);
  if (!entry || entry.content.length > 56 + MAX_TRACESTATE_LENGTH) return undefined;
  let text = '';
  for (const byte of entry.content) {
    if (byte > 0x7e || (byte < 0x20 && byte !== 0x0a)) return undefined;
    text += String.fromCharCode(byte);
  }
  const newline = text.indexOf('\n');
  const traceparent = newline < 0 ? text : text.slice(0, newline);
  if (!parseTraceparent(traceparent)) return undefined;
  const state = usableTracestate(newline < 0 ? undefined : text.slice(newline + 1));
  return state ? { traceparent, tracestate: state } : { traceparent };
}

/** Entries with the trace context replaced by `ctx` (the next hop's parent is this hop's span). */
export function withTraceContext(entries: readonly MetadataEntry[], ctx: TraceContext): MetadataEntry[] {
  return [...entries.filter((e) => e.mimeType !== TRACE_CONTEXT_MIME), traceContextEntry(ctx)];
}

function usableTracestate(state: string | undefined): string | undefined {
  if (!state) return undefined;
  const trimmed = state.trim();
  return trimmed.length > 0 && trimmed.length <= MAX_TRACESTATE_LENGTH && !trimmed.includes('\n') ? trimmed : undefined;
}

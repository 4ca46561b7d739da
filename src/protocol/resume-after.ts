/**
 * Where a resumed stream continues: a composite metadata entry
 * `application/x.sluice.resume-after` whose content is a decimal position
 * (UTF-8 digits). A stream's items are numbered 1, 2, 3... from the start of
 * the route's sequence; a request carrying `resume-after: N` asks the
 * producer for the items after the Nth. The HTTP bridge sends it when an SSE
 * caller reconnects with `Last-Event-ID: N` on a route whose policy says
 * `resumable` (only the route's owner knows whether its stream can be
 * replayed from a position). Isomorphic.
 */
import type { MetadataEntry } from './metadata.js';

export const RESUME_AFTER_MIME = 'application/x.sluice.resume-after';

/** Largest position: the largest integer a JSON number and a JavaScript number carry exactly. */
export const MAX_POSITION = Number.MAX_SAFE_INTEGER;

/** The position `text` names (decimal digits, 0 to MAX_POSITION), or undefined when it names none. */
export function parsePosition(text: string): number | undefined {
  if (!/^\d{1,16}$/.test(text)) return undefined;
  const n = Number(text);
  return n <= MAX_POSITION ? n : undefined;
}

export function resumeAfterEntry(position: number): MetadataEntry {
  return { mimeType: RESUME_AFTER_MIME, content: new TextEncoder().encode(String(position)) };
}

/** The position a request resumes after, or undefined when it starts from the beginning (or the entry is malformed). */
export function readResumeAfter(entries: readonly MetadataEntry[]): number | undefined {
  const entry = entries.find((e) => e.mimeType === RESUME_AFTER_MIME);
  return entry ? parsePosition(new TextDecoder().decode(entry.content)) : undefined;
}

/**
 * A request-stream written as Server-Sent Events, with demand that follows
 * the HTTP socket: the bridge asks for a small window, writes each item as
 * an event, and asks for more only while `res.write` keeps returning true,
 * or on 'drain' once it did not. A caller that stops reading therefore stops
 * its producer after at most the window (plus what the socket buffers), and
 * resumes it when it reads again. Heartbeat comments keep idle proxies from
 * closing the stream, and are skipped while the socket is congested.
 *
 * Each event's `id` is its position in the stream: 1, 2, 3..., or, when the
 * caller resumed with `Last-Event-ID: N`, N + 1, N + 2... So a caller that
 * reconnects names the last position it saw (docs/protocol.md, HTTP bridge).
 */
import type { ServerResponse } from 'node:http';
import type { SluiceError } from '../errors.js';
import type { Payload } from '../protocol/frames.js';
import { problemOf, sendProblem } from './problem.js';

export interface EventStreamOptions {
  /** Items requested from the producer and not yet written, at most. */
  window: number;
  /** Interval of heartbeat comments, in ms. */
  heartbeatMs: number;
  /** The position the stream resumes after (`Last-Event-ID`): events are numbered from it plus one. Default 0. */
  resumeAfter?: number;
}

/** Writes one stream's signals as SSE; `request(n)` is how demand leaves it. */
export class EventStreamWriter {
  private started = false;
  private ended = false;
  private sent = 0;
  /** The id of the last event written: the stream's position. */
  private position: number;
  /** Items written since demand was last topped up. */
  private unrequested = 0;
  private waitingForDrain = false;
  private heartbeat: ReturnType<typeof setInterval> | undefined;

  constructor(
    private readonly res: ServerResponse,
    private readonly options: EventStreamOptions,
    private readonly request: (n: number) => void,
  ) {
    this.position = options.resumeAfter ?? 0;
  }

  /** Sends the headers now unless a signal already answered the request. */
  start(): void {
    if (this.started || this.ended) return;
    this.started = true;
    const resumed = this.options.resumeAfter !== undefined ? { 'sluice-resumed-after': String(this.options.resumeAfter) } : {};
    this.res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', 'x-accel-buffering': 'no', ...resumed });
    this.res.flushHeaders();
    this.heartbeat = setInterval(() => {
      if (!this.res.writableNeedDrain) this.res.write(': keep-alive\n\n');
    }, this.options.heartbeatMs);
    this.heartbeat.unref();
  }

  next(payload: Payload): void {
    if (this.ended) return;
    this.start();
    this.sent++;
    this.position++;
    const text = payload.data ? new TextDecoder().decode(payload.data) : 'null';
    const ok = this.res.write(`id: ${this.position}\n${text.split(/\r\n|\r|\n/).map((l) => `data: ${l}`).join('\n')}\n\n`);
    this.unrequested++;
    if (!ok) {
      if (!this.waitingForDrain) {
        this.waitingForDrain = true;
        this.res.once('drain', () => {
          this.waitingForDrain = false;
          this.topUp();
        });
      }
      return;
    }
    // Top up in batches of half the window: one REQUEST_N per few items, never past the window.
    if (!this.waitingForDrain && this.unrequested >= Math.max(1, Math.floor(this.options.window / 2))) this.topUp();
  }

  complete(): void {
    if (this.ended) return;
    this.start();
    this.finish('event: complete\ndata: {}\n\n');
  }

  error(error: SluiceError): void {
    if (this.ended) return;
    if (!this.started) {
      // Nothing streamed yet: the refusal is the whole answer, with its own status.
      this.ended = true;
      sendProblem(this.res, error);
      return;
    }
    this.finish(`event: error\ndata: ${JSON.stringify(problemOf(error))}\n\n`);
  }

  /** The caller went away: nothing more is written. */
  close(): void {
    this.ended = true;
    clearInterval(this.heartbeat);
  }

  /** Events written so far. */
  get written(): number {
    return this.sent;
  }

  private topUp(): void {
    if (this.ended || this.unrequested === 0) return;
    const n = this.unrequested;
    this.unrequested = 0;
    this.request(n);
  }

  private finish(last: string): void {
    this.ended = true;
    clearInterval(this.heartbeat);
    this.res.end(last);
  }
}

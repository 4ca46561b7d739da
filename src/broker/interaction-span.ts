/**
 * The gateway's span of one forwarded interaction. Only the gateway sees
 * both sides of a hop, so only it can say whether a stalled stream waited on
 * its consumer's demand or on its producer: the span keeps one clock that
 * runs for whichever side the stream is waiting on, switched at each item
 * and each grant of demand. Exists only when tracing is on.
 */
import type { SluiceError } from '../errors.js';
import type { MetadataEntry } from '../protocol/metadata.js';
import { readTraceContext, type TraceContext } from '../protocol/trace-context.js';
import type { InteractionModel } from '../rsocket/stream.js';
import type { TraceSpan, Tracer } from '../observability/tracing.js';
import { WaitClock, roundMs } from '../observability/wait-clock.js';
import type { Instance } from './registry.js';

export class InteractionSpan {
  private readonly span: TraceSpan;
  private readonly clock = new WaitClock();
  private delivered = 0;
  private attempts = 0;

  constructor(tracer: Tracer, route: string, model: InteractionModel, entries: readonly MetadataEntry[]) {
    this.span = tracer.start(route, {
      kind: 'server',
      parent: readTraceContext(entries),
      attributes: { 'rpc.system': 'rsocket', 'sluice.route': route, 'sluice.model': model, 'sluice.hop': 'gateway' },
    });
  }

  /** What the instance receives as its parent. */
  get context(): TraceContext {
    return this.span.context;
  }

  /** An attempt goes to `instance`. */
  attempt(instance: Instance): void {
    this.attempts++;
    this.span.set('sluice.instance', instance.id);
    this.span.set('sluice.service', instance.service);
  }

  /** One payload reached the consumer. */
  deliver(): void {
    this.delivered++;
  }

  /**
   * The stream now waits on its consumer (`consumerHasDemand` false: items
   * could flow but nobody asked) or on its producer (the consumer asked and
   * nothing is there to give it).
   */
  wait(consumerHasDemand: boolean): void {
    this.clock.wait(consumerHasDemand);
  }

  /** Nobody is waited on (no upstream: a bulkhead wait or a retry backoff). */
  idle(): void {
    this.clock.stop();
  }

  fail(error: SluiceError): void {
    this.span.fail(error.code, error.message);
  }

  /** Ends the span; `requested` is the consumer's total demand (initial n plus every REQUEST_N). */
  end(requested: number): void {
    this.clock.stop();
    this.span.set('sluice.demand.requested', requested);
    this.span.set('sluice.demand.delivered', this.delivered);
    this.span.set('sluice.wait.consumer_ms', roundMs(this.clock.consumerMs));
    this.span.set('sluice.wait.producer_ms', roundMs(this.clock.producerMs));
    this.span.set('sluice.attempts', this.attempts);
    this.span.end();
  }
}

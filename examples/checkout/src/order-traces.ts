/**
 * Each order's trace context, from the `checkout.place` request that created
 * it, so the saga's steps (which run after the answer) are children of the
 * order in the trace. In memory and bounded: past `capacity` the oldest
 * orders are forgotten, and their later steps start traces of their own (as
 * do steps of orders resumed after a restart).
 */
import type { TraceContext } from 'sluice';

export class OrderTraces {
  private readonly byOrder = new Map<string, TraceContext>();

  /** `capacity`: orders remembered at most. Default 10,000. */
  constructor(private readonly capacity = 10_000) {}

  remember(orderId: string, trace: TraceContext): void {
    this.byOrder.delete(orderId);
    this.byOrder.set(orderId, trace);
    if (this.byOrder.size > this.capacity) this.byOrder.delete(this.byOrder.keys().next().value!);
  }

  of(orderId: unknown): TraceContext | undefined {
    return typeof orderId === 'string' ? this.byOrder.get(orderId) : undefined;
  }

  get size(): number {
    return this.byOrder.size;
  }
}

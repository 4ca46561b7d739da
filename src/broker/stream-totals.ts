/**
 * The interactions in flight summed per route and model in one pass, for
 * the metrics scrape. A scrape used to build a record per interaction and
 * then hand three labelled increments per interaction to prom-client: at a
 * million open streams that took over a second of the gateway's CPU per
 * scrape, and the records lived long enough to be promoted, so every scrape
 * left old-space garbage behind. Here each interaction costs a few additions
 * and the result has one row per route and model.
 */
import type { Interaction } from './forwarding.js';

/** One route and model's interactions in flight and their outstanding demand. */
export interface StreamTotals {
  readonly route: string;
  readonly model: string;
  /** Interactions in flight. */
  count: number;
  /** Demand requested by consumers and not yet delivered (an unbounded request counts as 2^31-1). */
  consumerDemand: number;
  /** Demand requested of producers and not yet received. */
  producerDemand: number;
}

/** Sums `live` per route and model; rows come in the order their route and model were first seen. */
export function streamTotals(live: Iterable<Interaction>): StreamTotals[] {
  const rows: StreamTotals[] = [];
  // Route names are shared strings (one per route runtime), so the lookup is by identity in practice.
  const byRoute = new Map<string, StreamTotals[]>();
  for (const s of live) {
    let ofRoute = byRoute.get(s.route);
    if (ofRoute === undefined) byRoute.set(s.route, (ofRoute = []));
    let row: StreamTotals | undefined;
    for (const r of ofRoute) if (r.model === s.model) row = r;
    if (row === undefined) {
      row = { route: s.route, model: s.model, count: 0, consumerDemand: 0, producerDemand: 0 };
      ofRoute.push(row);
      rows.push(row);
    }
    const d = s.demand();
    row.count += 1;
    row.consumerDemand += d.consumer;
    row.producerDemand += d.producer;
  }
  return rows;
}

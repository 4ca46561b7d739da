/**
 * A Prometheus histogram by route and model whose observations cost a bucket
 * search and three additions. prom-client's Histogram.observe validates and
 * hashes its label object into a key on every call, which showed in the
 * gateway's request-response and stream-opening profiles; here a caller
 * keeps the series it observes into (`series`), and prom-client only reads
 * the counts when /metrics is scraped, through the registry's metric
 * interface (`get`), in the exposition prom-client writes for its own
 * histograms.
 */
import type client from 'prom-client';

/** One label pair's counts: per bucket (not cumulative), the +Inf overflow last. */
export interface HistogramSeries {
  readonly route: string;
  readonly model: string;
  /** counts[i]: observations in (bounds[i-1], bounds[i]]; counts[bounds.length]: above the last bound. */
  readonly counts: Float64Array;
  sum: number;
  count: number;
}

interface MetricValue {
  labels: Record<string, string | number>;
  value: number;
  metricName: string;
}

/** Most routes kept apart; beyond, observations go to the route '(other)' (cardinality stays bounded). */
export const MAX_HISTOGRAM_ROUTES = 10_000;

export class LocalHistogram {
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  private readonly bounds: Float64Array;
  private readonly byRoute = new Map<string, Map<string, HistogramSeries>>();

  /**
   * @param name metric name, as registered
   * @param help its HELP line
   * @param buckets upper bounds in ascending order (seconds for a duration)
   */
  constructor(
    readonly name: string,
    readonly help: string,
    buckets: readonly number[],
    registry: client.Registry,
  ) {
    for (let i = 1; i < buckets.length; i++) {
      if (!(buckets[i]! > buckets[i - 1]!)) throw new Error(`histogram ${name}: buckets must ascend`);
    }
    this.bounds = Float64Array.from(buckets);
    // The registry asks only for name, type, aggregator and get()/reset(): what prom-client's own metrics offer it.
    registry.registerMetric(this as unknown as client.Metric<string>);
  }

  /** The series of one label pair, made on first use; hold it to observe without a look-up. */
  series(route: string, model: string): HistogramSeries {
    let byModel = this.byRoute.get(route);
    if (!byModel) {
      if (this.byRoute.size >= MAX_HISTOGRAM_ROUTES && route !== '(other)') return this.series('(other)', model);
      byModel = new Map();
      this.byRoute.set(route, byModel);
    }
    let s = byModel.get(model);
    if (!s) {
      s = { route, model, counts: new Float64Array(this.bounds.length + 1), sum: 0, count: 0 };
      byModel.set(model, s);
    }
    return s;
  }

  /** Adds one observation (NaN and infinities are ignored: they would poison the sum). */
  observe(series: HistogramSeries, value: number): void {
    if (!Number.isFinite(value)) return;
    const bounds = this.bounds;
    let i = 0;
    while (i < bounds.length && value > bounds[i]!) i++;
    series.counts[i]!++;
    series.sum += value;
    series.count++;
  }

  /** For the registry's scrape: cumulative buckets, +Inf, sum and count per series. */
  get(): Promise<{ name: string; help: string; type: string; values: MetricValue[]; aggregator: string }> {
    const values: MetricValue[] = [];
    const bucket = `${this.name}_bucket`;
    for (const byModel of this.byRoute.values()) {
      for (const s of byModel.values()) {
        const labels = { route: s.route, model: s.model };
        let acc = 0;
        for (let i = 0; i < this.bounds.length; i++) {
          acc += s.counts[i]!;
          values.push({ labels: { le: this.bounds[i]!, ...labels }, value: acc, metricName: bucket });
        }
        values.push({ labels: { le: '+Inf', ...labels }, value: s.count, metricName: bucket });
        values.push({ labels, value: s.sum, metricName: `${this.name}_sum` });
        values.push({ labels, value: s.count, metricName: `${this.name}_count` });
      }
    }
    return Promise.resolve({ name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator });
  }

  /** The registry's resetMetrics(): every series back to zero (held series stay valid). */
  reset(): void {
    for (const byModel of this.byRoute.values()) {
      for (const s of byModel.values()) {
        s.counts.fill(0);
        s.sum = 0;
        s.count = 0;
      }
    }
  }
}

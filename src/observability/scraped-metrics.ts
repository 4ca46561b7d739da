/**
 * Counters and gauges whose values are read at scrape time from what the
 * gateway already counts (plain numbers on its hot paths), instead of being
 * incremented through prom-client as things happen. Each scrape resets the
 * metric and sets every label set `read` returns, so label sets that are
 * gone (a route removed) disappear from the next scrape.
 */
import client from 'prom-client';

/** One label set and its value at this scrape. */
export type Sample<L extends string> = readonly [labels: Partial<Record<L, string>>, value: number];

/** What every scraped metric is: where it registers, its name, help and label names, and how to read it. */
export interface ScrapedMetric<L extends string> {
  registers: client.Registry[];
  name: string;
  help: string;
  labelNames?: readonly L[];
  /** The samples of this scrape (a total for a counter, a level for a gauge). */
  read(): Iterable<Sample<L>>;
}

/** A counter whose totals are read at scrape time. */
export function scrapedCounter<L extends string>(m: ScrapedMetric<L>): client.Counter<L> {
  return new client.Counter<L>({
    name: m.name,
    help: m.help,
    labelNames: m.labelNames ?? [],
    registers: m.registers,
    collect() {
      this.reset();
      for (const [labels, value] of m.read()) this.inc(labels, value);
    },
  });
}

/** A gauge whose levels are read at scrape time. */
export function scrapedGauge<L extends string>(m: ScrapedMetric<L>): client.Gauge<L> {
  return new client.Gauge<L>({
    name: m.name,
    help: m.help,
    labelNames: m.labelNames ?? [],
    registers: m.registers,
    collect() {
      this.reset();
      for (const [labels, value] of m.read()) this.set(labels, value);
    },
  });
}

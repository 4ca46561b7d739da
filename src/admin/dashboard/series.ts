/**
 * Bounded time series for the dashboard charts: at most `capacity` points
 * (the oldest drop off) and at most `maxKeys` series. A key that appears late
 * is back-filled with gaps; a key absent for the whole window is dropped.
 * Isomorphic and DOM-free, so it is unit-tested in Node.
 */
export class TimeSeries {
  private readonly times: number[] = [];
  private readonly columns = new Map<string, (number | null)[]>();

  constructor(
    readonly capacity: number,
    readonly maxKeys: number,
  ) {
    if (!Number.isInteger(capacity) || capacity < 2) throw new RangeError('capacity must be an integer >= 2');
    if (!Number.isInteger(maxKeys) || maxKeys < 1) throw new RangeError('maxKeys must be a positive integer');
  }

  /** Appends one point at `t` (seconds); keys over `maxKeys` are ignored. */
  push(t: number, sample: ReadonlyMap<string, number>): void {
    this.times.push(t);
    for (const [key, column] of this.columns) column.push(sample.get(key) ?? null);
    for (const [key, value] of sample) {
      if (this.columns.has(key) || this.columns.size >= this.maxKeys) continue;
      const column: (number | null)[] = new Array(this.times.length - 1).fill(null);
      column.push(value);
      this.columns.set(key, column);
    }
    if (this.times.length > this.capacity) {
      this.times.shift();
      for (const column of this.columns.values()) column.shift();
    }
    for (const [key, column] of this.columns) if (column.every((v) => v === null)) this.columns.delete(key);
  }

  get length(): number {
    return this.times.length;
  }

  /** Series names, in the order of `data()` columns after the time column. */
  keys(): string[] {
    return [...this.columns.keys()];
  }

  /** `[times, ...one column per key]`, the shape uPlot takes. */
  data(): [number[], ...(number | null)[][]] {
    return [this.times, ...this.columns.values()];
  }

  /** The latest value of `key`, or undefined. */
  last(key: string): number | null | undefined {
    return this.columns.get(key)?.at(-1);
  }
}

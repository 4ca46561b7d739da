/**
 * One uPlot line chart per measure, one line per route. uPlot draws on a
 * canvas and updates in place (`setData`), which keeps rendering cheap while
 * a load test runs; the chart is rebuilt only when the set of routes changes.
 */
import uPlot from 'uplot';
import { TimeSeries } from './series.js';

const PALETTE = ['#2563eb', '#dc2626', '#16a34a', '#d97706', '#7c3aed', '#0891b2', '#db2777', '#4b5563', '#65a30d', '#9333ea'];

/** 5 minutes at the default 1 s interval. */
export const POINTS_KEPT = 300;
/** Lines per chart; further routes appear in the table only. */
export const LINES_PER_CHART = 10;

export class RouteChart {
  readonly series = new TimeSeries(POINTS_KEPT, LINES_PER_CHART);
  private plot: uPlot | undefined;
  private plotted = '';

  constructor(
    private readonly container: HTMLElement,
    private readonly unit: string,
  ) {}

  push(t: number, values: ReadonlyMap<string, number>): void {
    this.series.push(t, values);
  }

  render(): void {
    const keys = this.series.keys().join('\n');
    const width = Math.max(240, this.container.clientWidth);
    if (!this.plot || keys !== this.plotted) {
      this.plot?.destroy();
      this.plotted = keys;
      this.plot = new uPlot(this.options(width), this.series.data(), this.container);
      return;
    }
    if (Math.abs(this.plot.width - width) > 4) this.plot.setSize({ width, height: this.plot.height });
    this.plot.setData(this.series.data());
  }

  private options(width: number): uPlot.Options {
    return {
      width,
      height: 180,
      legend: { show: true, live: false },
      cursor: { show: false },
      scales: { x: { time: true }, y: { range: (_u, min, max) => [Math.min(0, min), Math.max(1, max)] } },
      axes: [{}, { label: this.unit, size: 56 }],
      series: [{}, ...this.series.keys().map((key, i) => ({ label: key, stroke: PALETTE[i % PALETTE.length]!, width: 1.5, spanGaps: false, points: { show: false } }))],
    };
  }
}

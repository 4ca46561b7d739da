/**
 * A small hand-written SVG line chart for BENCHMARKS.md: axes with round
 * ticks (linear or log10), one polyline per series, optional horizontal
 * reference lines, a legend row above the plot. No dependencies; the output is deterministic
 * for the same input, so re-running the bench only changes charts whose
 * numbers changed.
 */

export interface Series {
  readonly name: string;
  readonly points: ReadonlyArray<readonly [number, number]>;
  /** Draw dashed (for a baseline or a secondary measure). */
  readonly dashed?: boolean;
}

export interface ReferenceLine {
  readonly y: number;
  readonly label: string;
}

export interface LineChartOptions {
  readonly title: string;
  readonly subtitle?: string;
  readonly xLabel: string;
  readonly yLabel: string;
  readonly series: readonly Series[];
  readonly lines?: readonly ReferenceLine[];
  /** Log10 y axis (all y values must be > 0). */
  readonly logY?: boolean;
  /** Axis bounds; by default from the data (y from 0 on a linear axis). */
  readonly yMin?: number;
  readonly yMax?: number;
  readonly width?: number;
  readonly height?: number;
}

const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b'];
const FONT = 'font-family="system-ui, -apple-system, Segoe UI, Helvetica, Arial, sans-serif"';

/**
 * Round tick values from the first multiple of the step at or above `min`
 * to the first at or above `max` (so the axis can end on a labelled tick):
 * steps of 1, 2 or 5 times a power of ten, about `target` of them.
 */
export function niceTicks(min: number, max: number, target = 5): number[] {
  if (!(max > min)) return [min];
  const raw = (max - min) / target;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw)!;
  const ticks: number[] = [];
  const last = Math.ceil(max / step - 1e-9) * step;
  for (let v = Math.ceil(min / step - 1e-9) * step; v <= last + step * 1e-9; v += step) ticks.push(Number(v.toPrecision(12)));
  return ticks;
}

/** Tick label: 1.5k, 20k, 1.2M, 0.25, 3. */
export function tickLabel(v: number): string {
  const a = Math.abs(v);
  if (a >= 1e6) return `${trim(v / 1e6)}M`;
  if (a >= 1e4) return `${trim(v / 1e3)}k`;
  return trim(v);
}

function trim(v: number): string {
  return String(Number(v.toPrecision(3)));
}

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

export function lineChart(o: LineChartOptions): string {
  const W = o.width ?? 720;
  const H = o.height ?? 400;
  // The legend sits in rows above the plot, so it never hides data; a long one wraps and the plot starts lower.
  const margin = { right: 24, bottom: 52, left: 72 };
  const itemWidth = (s: Series) => 28 + s.name.length * 6.6 + 18;
  const rows: Series[][] = [[]];
  let used = 0;
  for (const s of o.series) {
    if (used > 0 && margin.left + used + itemWidth(s) > W - margin.right) {
      rows.push([]);
      used = 0;
    }
    rows.at(-1)!.push(s);
    used += itemWidth(s);
  }
  const extra = (rows.length - 1) * 18;
  const m = { ...margin, top: (o.subtitle ? 78 : 62) + extra };
  const pw = W - m.left - m.right;
  const ph = H - m.top - m.bottom;
  const all = o.series.flatMap((s) => s.points);
  const ys = [...all.map((p) => p[1]), ...(o.lines ?? []).map((l) => l.y)];
  const xs = all.map((p) => p[0]);
  const xMin = xs.length ? Math.min(...xs) : 0;
  const xMax = xs.length ? Math.max(...xs) : 1;
  let yLo: number;
  let yHi: number;
  let yTicks: number[];
  if (o.logY) {
    const pos = ys.filter((y) => y > 0);
    yLo = o.yMin ?? 10 ** Math.floor(Math.log10(pos.length ? Math.min(...pos) : 1));
    yHi = o.yMax ?? 10 ** Math.ceil(Math.log10(pos.length ? Math.max(...pos) : 10));
    if (yHi <= yLo) yHi = yLo * 10;
    yTicks = [];
    for (let e = Math.round(Math.log10(yLo)); e <= Math.round(Math.log10(yHi)); e++) yTicks.push(10 ** e);
  } else {
    yLo = o.yMin ?? Math.min(0, ...ys);
    const top = o.yMax ?? (ys.length ? Math.max(...ys) : 1);
    yTicks = niceTicks(yLo, top > yLo ? top : yLo + 1);
    yHi = Math.max(top, yTicks.at(-1)!);
  }
  // The x axis ends at the data (a time series ending at 60.3 s should not run to 80 s): ticks past it are dropped.
  const xHi = xMax > xMin ? xMax : xMin + 1;
  const xTicks = niceTicks(xMin, xHi, 6).filter((t) => t <= xHi * (1 + 1e-9));
  const sx = (x: number) => m.left + ((x - xMin) / (xHi - xMin)) * pw;
  const sy = (y: number) => {
    const f = o.logY ? (Math.log10(Math.max(y, yLo)) - Math.log10(yLo)) / (Math.log10(yHi) - Math.log10(yLo)) : (y - yLo) / (yHi - yLo);
    return m.top + ph - f * ph;
  };
  const px = (n: number) => n.toFixed(1);

  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" ${FONT} font-size="12">`);
  out.push(`<rect width="${W}" height="${H}" fill="#ffffff"/>`);
  out.push(`<text x="${m.left}" y="22" font-size="15" font-weight="600" fill="#222">${esc(o.title)}</text>`);
  if (o.subtitle) out.push(`<text x="${m.left}" y="40" fill="#555">${esc(o.subtitle)}</text>`);
  // Grid and ticks.
  for (const t of yTicks) {
    const y = px(sy(t));
    out.push(`<line x1="${m.left}" y1="${y}" x2="${m.left + pw}" y2="${y}" stroke="#e5e5e5"/>`);
    out.push(`<text x="${m.left - 8}" y="${y}" text-anchor="end" dominant-baseline="middle" fill="#444">${esc(tickLabel(t))}</text>`);
  }
  for (const t of xTicks) {
    const x = px(sx(t));
    out.push(`<line x1="${x}" y1="${m.top + ph}" x2="${x}" y2="${m.top + ph + 5}" stroke="#888"/>`);
    out.push(`<text x="${x}" y="${m.top + ph + 18}" text-anchor="middle" fill="#444">${esc(tickLabel(t))}</text>`);
  }
  out.push(`<line x1="${m.left}" y1="${m.top + ph}" x2="${m.left + pw}" y2="${m.top + ph}" stroke="#888"/>`);
  out.push(`<line x1="${m.left}" y1="${m.top}" x2="${m.left}" y2="${m.top + ph}" stroke="#888"/>`);
  out.push(`<text x="${m.left + pw / 2}" y="${H - 12}" text-anchor="middle" fill="#333">${esc(o.xLabel)}</text>`);
  out.push(`<text transform="translate(16 ${m.top + ph / 2}) rotate(-90)" text-anchor="middle" fill="#333">${esc(o.yLabel)}${o.logY ? ' (log scale)' : ''}</text>`);
  // Reference lines.
  for (const l of o.lines ?? []) {
    const y = px(sy(l.y));
    out.push(`<line x1="${m.left}" y1="${y}" x2="${m.left + pw}" y2="${y}" stroke="#777" stroke-dasharray="2 4"/>`);
    out.push(`<text x="${m.left + pw - 4}" y="${Number(y) - 5}" text-anchor="end" fill="#555">${esc(l.label)}</text>`);
  }
  // Series.
  o.series.forEach((s, i) => {
    const color = COLORS[i % COLORS.length]!;
    const pts = s.points.map(([x, y]) => `${px(sx(x))},${px(sy(y))}`).join(' ');
    if (s.points.length > 1) out.push(`<polyline fill="none" stroke="${color}" stroke-width="2"${s.dashed ? ' stroke-dasharray="6 4"' : ''} points="${pts}"/>`);
    if (s.points.length <= 30) for (const [x, y] of s.points) out.push(`<circle cx="${px(sx(x))}" cy="${px(sy(y))}" r="3" fill="${color}"/>`);
  });
  // Legend above the plot, in as many rows as it needs (laid out before the plot area, which starts below it).
  o.series.forEach((s, i) => {
    const row = rows.findIndex((r) => r.includes(s));
    const before = rows[row]!.slice(0, rows[row]!.indexOf(s)).reduce((n, x) => n + itemWidth(x), 0);
    const lx = m.left + before;
    const ly = m.top - 16 - extra + row * 18;
    const color = COLORS[i % COLORS.length]!;
    out.push(`<line x1="${lx}" y1="${ly}" x2="${lx + 22}" y2="${ly}" stroke="${color}" stroke-width="2"${s.dashed ? ' stroke-dasharray="6 4"' : ''}/>`);
    out.push(`<text x="${lx + 28}" y="${ly}" dominant-baseline="middle" fill="#222">${esc(s.name)}</text>`);
  });
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}

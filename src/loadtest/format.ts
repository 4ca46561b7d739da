/** Number formatting shared by the progress line, the report and the benchmarks. */

/** 12,345 (rounded). */
export function int(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

/** Milliseconds with sensible precision: 0.412 ms, 12.3 ms, 2,013 ms. */
export function ms(n: number): string {
  if (n === 0) return '0 ms';
  if (n < 1) return `${n.toFixed(3)} ms`;
  if (n < 100) return `${n.toFixed(1)} ms`;
  return `${int(n)} ms`;
}

/** Bytes as MiB with one decimal: 85.3 MiB. */
export function mib(bytes: number): string {
  return `${(bytes / 2 ** 20).toFixed(1)} MiB`;
}

/** Signed MiB: +3.2 MiB, -0.4 MiB. */
export function signedMib(bytes: number): string {
  return `${bytes >= 0 ? '+' : '-'}${mib(Math.abs(bytes))}`;
}

/** Errors by code on one line: `OVERLOADED=3 UNAVAILABLE=1`, or `none`. */
export function errorList(errors: Readonly<Record<string, number>>): string {
  const parts = Object.entries(errors).map(([code, n]) => `${code}=${int(n)}`);
  return parts.length ? parts.join(' ') : 'none';
}

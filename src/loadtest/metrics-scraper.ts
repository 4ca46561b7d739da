/**
 * Reads the gateway's memory from its admin `/metrics` (Prometheus text) at
 * a fixed interval during a run. Only the load tester's own numbers come
 * from the client side; gateway memory is what the gateway reports about
 * itself (prom-client's process metrics, prefixed `sluice_`).
 */
import { get as httpGet } from 'node:http';
import { get as httpsGet } from 'node:https';
import type { Clock } from './clock.js';

/** One reading of gateway memory, in bytes, at `t` ms since the run started. */
export interface MemorySample {
  readonly t: number;
  readonly rss: number;
  readonly heapUsed: number;
}

export interface MemorySummary {
  readonly samples: number;
  /** RSS at the first and last sample, the largest seen, and last - first (bytes). */
  readonly rssStart: number;
  readonly rssEnd: number;
  readonly rssMax: number;
  readonly rssGrowth: number;
  readonly heapUsedStart: number;
  readonly heapUsedEnd: number;
  readonly heapUsedMax: number;
}

/** Metric names as prom-client exposes them with the `sluice_` prefix. */
const RSS_NAMES = ['sluice_process_resident_memory_bytes'];
const HEAP_NAMES = ['sluice_nodejs_heap_size_used_bytes'];

/** The value of an unlabelled sample `name` in Prometheus text, if present. */
export function metricFromText(text: string, name: string): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const rest = line.slice(name.length);
    // Exactly this name: the next character is a space (unlabelled) or '{' (labelled).
    if (rest[0] !== ' ' && rest[0] !== '{') continue;
    const value = Number(rest.slice(rest.lastIndexOf(' ') + 1));
    if (Number.isFinite(value)) return value;
  }
  return undefined;
}

/** RSS and heap used from a `/metrics` body; undefined when the gateway does not export them. */
export function memoryFromText(text: string): { rss: number; heapUsed: number } | undefined {
  const rss = firstOf(text, RSS_NAMES);
  const heapUsed = firstOf(text, HEAP_NAMES);
  return rss === undefined || heapUsed === undefined ? undefined : { rss, heapUsed };
}

function firstOf(text: string, names: readonly string[]): number | undefined {
  for (const n of names) {
    const v = metricFromText(text, n);
    if (v !== undefined) return v;
  }
  return undefined;
}

/**
 * Fetches `${adminUrl}/metrics` once (within `timeoutMs`) and reads memory from it.
 * `ca` is the PEM to trust for an https admin URL with a private CA (the `--ca` file).
 */
export async function scrapeMemory(adminUrl: string, timeoutMs = 2_000, ca?: Buffer): Promise<{ rss: number; heapUsed: number }> {
  const url = `${adminUrl.replace(/\/$/, '')}/metrics`;
  const mem = memoryFromText(await getText(url, timeoutMs, ca));
  if (!mem) throw new Error(`${adminUrl}/metrics has no ${RSS_NAMES[0]} / ${HEAP_NAMES[0]}`);
  return mem;
}

/** Metrics pages are small; more than this is not a metrics page. */
const MAX_METRICS_BYTES = 16 << 20;

// node:http(s) rather than fetch: fetch cannot be told to trust one more CA without undici's Agent.
function getText(url: string, timeoutMs: number, ca: Buffer | undefined): Promise<string> {
  return new Promise((resolve, reject) => {
    const get = url.startsWith('https:') ? httpsGet : httpGet;
    const req = get(url, { timeout: timeoutMs, ...(ca ? { ca } : {}) }, (res) => {
      if (res.statusCode !== 200) {
        res.resume();
        reject(new Error(`${url} answered ${res.statusCode}`));
        return;
      }
      const chunks: Buffer[] = [];
      let bytes = 0;
      res.on('data', (c: Buffer) => {
        bytes += c.length;
        if (bytes > MAX_METRICS_BYTES) req.destroy(new Error(`${url} is larger than ${MAX_METRICS_BYTES} bytes`));
        else chunks.push(c);
      });
      res.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`${url} did not answer within ${timeoutMs} ms`)));
    req.on('error', reject);
  });
}

export function summarizeMemory(samples: readonly MemorySample[]): MemorySummary | undefined {
  const first = samples[0];
  const last = samples.at(-1);
  if (!first || !last) return undefined;
  return {
    samples: samples.length,
    rssStart: first.rss,
    rssEnd: last.rss,
    rssMax: Math.max(...samples.map((s) => s.rss)),
    rssGrowth: last.rss - first.rss,
    heapUsedStart: first.heapUsed,
    heapUsedEnd: last.heapUsed,
    heapUsedMax: Math.max(...samples.map((s) => s.heapUsed)),
  };
}

export interface MemorySamplerOptions {
  adminUrl: string;
  /** Ms between readings. Default 1000. */
  intervalMs?: number;
  /** Most readings kept; past it, every other one is dropped so the series still spans the run. Default 4096. */
  maxSamples?: number;
  clock: Clock;
  /** PEM to trust for an https admin URL. Default the system's CAs. */
  ca?: Buffer;
}

/**
 * Samples gateway memory every `intervalMs` until stopped. A failed reading
 * is counted, not fatal: the run goes on and the report says how many failed.
 */
export class MemorySampler {
  readonly samples: MemorySample[] = [];
  failures = 0;
  lastError: string | undefined;
  private readonly abort = new AbortController();
  private loop: Promise<void> | undefined;
  private readonly intervalMs: number;
  private readonly maxSamples: number;
  private startedAt = 0;

  constructor(private readonly o: MemorySamplerOptions) {
    this.intervalMs = o.intervalMs ?? 1_000;
    this.maxSamples = o.maxSamples ?? 4096;
  }

  /** Takes a first reading now, then one every interval. */
  start(): void {
    this.startedAt = this.o.clock.now();
    this.loop = this.run();
  }

  /** Takes a last reading and stops. */
  async stop(): Promise<MemorySample[]> {
    this.abort.abort();
    await this.loop;
    await this.read();
    return this.samples;
  }

  private async run(): Promise<void> {
    while (!this.abort.signal.aborted) {
      await this.read();
      try {
        await this.o.clock.sleep(this.intervalMs, this.abort.signal);
      } catch {
        return;
      }
    }
  }

  private async read(): Promise<void> {
    const t = this.o.clock.now() - this.startedAt;
    try {
      const m = await scrapeMemory(this.o.adminUrl, undefined, this.o.ca);
      this.samples.push({ t, ...m });
      if (this.samples.length > this.maxSamples) {
        // Halve the resolution instead of growing: keep every other sample, and always the first.
        const kept = this.samples.filter((_, i) => i % 2 === 0);
        this.samples.length = 0;
        this.samples.push(...kept);
      }
    } catch (err) {
      this.failures++;
      this.lastError = (err as Error).message;
    }
  }
}

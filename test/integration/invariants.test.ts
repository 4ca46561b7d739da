/**
 * Invariants of the forwarding path over real sockets: after a burst of mixed
 * interactions (completions, cancels, deadlines, retries, bulkhead refusals
 * and timeouts, an instance killed mid-burst) the gateway holds nothing: no
 * interaction in flight, no bulkhead slot or queue place, no instance with
 * work counted against it. A leak in any path shows up here as a gauge that
 * never returns to 0.
 */
import { firstValueFrom, from, take, toArray } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { SluiceError } from '../../src/errors.js';
import { benchRoutes } from '../../src/loadtest/bench-service.js';
import { deadlineEntry } from '../../src/resilience/deadline.js';
import type { RouteTable } from '../../src/service/handlers.js';
import { eventually, metricsText, useHarness } from '../helpers/harness.js';

const h = useHarness();

/** Sums a metric over all its label sets (absent: 0). */
function total(text: string, name: string): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    const m = /^([a-z_]+)(\{[^}]*\})? (.+)$/.exec(line);
    if (m && m[1] === name) sum += Number(m[3]);
  }
  return sum;
}

/** `ctl.op` does what its data says: answer, fail retryably, or take its time (until cancelled). */
function controlled(): RouteTable {
  return {
    ...benchRoutes(),
    'ctl.op': {
      idempotent: true,
      requestResponse: (data: unknown, ctx) => {
        const mode = (data as { mode: string }).mode;
        if (mode === 'fail') throw new SluiceError('UNAVAILABLE', 'scripted failure');
        if (mode === 'slow') {
          return new Promise((resolve) => {
            const t = setTimeout(() => resolve('late'), 200);
            ctx.signal.addEventListener('abort', () => clearTimeout(t), { once: true });
          });
        }
        return { ok: true };
      },
    },
  };
}

describe('after a burst of mixed interactions', () => {
  it('nothing is left in flight, queued, or counted against an instance', async () => {
    const gw = await h.gateway({
      policies: {
        defaults: {},
        routes: {
          'ctl.op': { retry: { maxAttempts: 3, initialDelayMs: 5, maxDelayMs: 20 }, bulkhead: { maxConcurrent: 6, maxQueue: 4, maxWaitMs: 50 }, breaker: { enabled: false } },
          'bench.*': { bulkhead: { maxConcurrent: 20, maxQueue: 5, maxWaitMs: 100 } },
        },
      },
    });
    await h.service({ url: gw.url, service: 'ctl', instance: 'ctl-a', routes: controlled() });
    const b = await h.service({ url: gw.url, service: 'ctl', instance: 'ctl-b', routes: controlled() });
    const client = await h.client(gw.url);

    const outcome = (p: Promise<unknown>) => p.then(() => 'ok', (e: SluiceError) => e.code ?? 'error');
    const calls: Array<Promise<string>> = [];
    for (let i = 0; i < 40; i++) {
      const mode = ['ok', 'fail', 'slow', 'ok'][i % 4]!;
      const metadata = i % 8 === 2 ? [deadlineEntry(30)] : [];
      calls.push(outcome(client.requestResponse('ctl.op', { mode }, { metadata })));
      // Streams: completed, cancelled after a few items, or cut by a deadline.
      if (i % 5 === 0) calls.push(outcome(firstValueFrom(client.requestStream('bench.source', { count: 50 }, { prefetch: 4 }).pipe(toArray()))));
      if (i % 5 === 1) calls.push(outcome(firstValueFrom(client.requestStream('bench.source', {}, { prefetch: 2 }).pipe(take(3), toArray()))));
      if (i % 5 === 2) calls.push(outcome(firstValueFrom(client.requestStream('bench.source', {}, { prefetch: 1, metadata: [deadlineEntry(40)] }).pipe(toArray()))));
      // Channels through a sink that takes its time per item.
      if (i % 5 === 3) calls.push(outcome(firstValueFrom(client.requestChannel('bench.sink', from([{ delayMs: 1 }, 1, 2, 3])).pipe(toArray()))));
      // An aborted call: cancelled while waiting, retrying or running.
      if (i % 5 === 4) {
        const controller = new AbortController();
        calls.push(outcome(client.requestResponse('ctl.op', { mode: 'slow' }, { signal: controller.signal })));
        setTimeout(() => controller.abort(), i % 3);
      }
      if (i === 20) b.close();
    }
    const results = await Promise.all(calls);
    // The burst really went through every path.
    for (const code of ['ok', 'UNAVAILABLE', 'DEADLINE_EXCEEDED', 'CANCELED', 'OVERLOADED']) expect(results).toContain(code);

    await eventually(async () => {
      const text = await metricsText(gw);
      const left = {
        streams: total(text, 'sluice_streams_active'),
        bulkheadActive: total(text, 'sluice_bulkhead_active'),
        bulkheadQueued: total(text, 'sluice_bulkhead_queued'),
        instanceActive: gw.registry.instances().reduce((n, i) => n + i.active, 0),
      };
      return Object.values(left).every((v) => v === 0) ? left : undefined;
    }, 'every gauge back to 0');
  });
});

/**
 * Where a checkout saga's time goes, measured: the real saga runner and the
 * real order store (PGlite in a temporary directory) against a simulated
 * gateway with one real CircuitBreaker per step route, the gateway's retry
 * of UNAVAILABLE (3 attempts) and an inventory that answers `reserve` after
 * `--latency-ms` and fails `--failure-rate` of attempts at once. Orders are
 * placed open loop at `--rate` for `--seconds`; every step call is recorded,
 * and each order's life is cut into: waiting before its first call, in
 * payment calls, in inventory calls, waiting after a CIRCUIT_OPEN refusal,
 * waiting after a failed attempt, and the rest (store writes, waiting for a
 * call permit). Used for the timeline in docs/checkout.md:
 *
 *   npx tsx examples/checkout/scripts/saga-timeline.ts --rate 25 --seconds 20 --breaker default --max-sagas 32
 *   npx tsx examples/checkout/scripts/saga-timeline.ts --rate 25 --seconds 20 --breaker demo
 *
 * `--runner FILE` measures another saga-runner module with the same
 * interface (for example the previous version, to compare).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { stepBreaker } from '../src/gateway-policies.js';
import { resolveOrderOptions } from '../src/config.js';
import { OrderStore } from '../src/order-store.js';
import type { SagaRunner, StepCaller } from '../src/saga-runner.js';
import type { SagaStep } from '../src/saga.js';
import { SluiceError } from 'sluice';
import { silentLogger } from 'sluice';
import { defaultRoutePolicy } from '../../../src/policy/policy-config.js';
import { CircuitBreaker } from 'sluice';

const { values: args } = parseArgs({
  options: {
    rate: { type: 'string', default: '25' },
    seconds: { type: 'string', default: '20' },
    drain: { type: 'string', default: '20' },
    'latency-ms': { type: 'string', default: '2000' },
    'failure-rate': { type: 'string', default: '0.2' },
    breaker: { type: 'string', default: 'demo' },
    'max-sagas': { type: 'string' },
    runner: { type: 'string' },
  },
});
const rate = Number(args.rate);
const seconds = Number(args.seconds);
const latencyMs = Number(args['latency-ms']);
const failureRate = Number(args['failure-rate']);

interface CallRecord {
  step: SagaStep;
  start: number;
  end: number;
  error?: string;
}

const { enabled: _e, failureCodes: _c, ...policyBreaker } = defaultRoutePolicy.breaker;
const breakerOptions = args.breaker === 'default' ? policyBreaker : { ...policyBreaker, ...stepBreaker };
const breakers = new Map<string, CircuitBreaker>();
const breakerFor = (route: string) => {
  let b = breakers.get(route);
  if (!b) breakers.set(route, (b = new CircuitBreaker(breakerOptions)));
  return b;
};

const calls = new Map<string, CallRecord[]>();
const simulated: StepCaller = {
  connected: true,
  whenConnected: () => Promise.resolve(),
  async call(step, data, _deadlineMs, signal) {
    const orderId = (data as { orderId: string }).orderId;
    const rec: CallRecord = { step, start: performance.now(), end: 0 };
    const list = calls.get(orderId) ?? [];
    list.push(rec);
    calls.set(orderId, list);
    try {
      return await gateway(step, signal);
    } catch (err) {
      rec.error = SluiceError.from(err).code;
      throw err;
    } finally {
      rec.end = performance.now();
    }
  },
};

/** One call through the simulated gateway: breaker, up to 3 attempts on UNAVAILABLE, then the service. */
async function gateway(step: SagaStep, signal: AbortSignal): Promise<unknown> {
  const breaker = breakerFor(step);
  for (let attempt = 1; ; attempt++) {
    if (!breaker.tryAcquire()) {
      throw new SluiceError('CIRCUIT_OPEN', `circuit open for route '${step}'`, { details: { retryAfterMs: breaker.remainingOpenMs() } });
    }
    if (step.startsWith('payment.')) {
      breaker.onSuccess(0);
      return step === 'payment.authorize' ? { status: 'AUTHORIZED', paymentId: 'pay_1', amountCents: 2450 } : { refunded: true, paymentId: 'pay_1', amountCents: 2450 };
    }
    if (Math.random() < failureRate) {
      breaker.onFailure(0);
      if (attempt < 3) continue;
      throw new SluiceError('UNAVAILABLE', 'simulated failure');
    }
    const t0 = performance.now();
    try {
      await sleep(latencyMs, undefined, { signal });
    } catch {
      breaker.release();
      throw new SluiceError('CANCELED', 'cancelled');
    }
    breaker.onSuccess(performance.now() - t0);
    return step === 'inventory.reserve' ? { status: 'RESERVED' } : { released: true, items: [] };
  }
}

const dir = await mkdtemp(join(tmpdir(), 'sluice-saga-timeline-'));
const store = await OrderStore.open(dir, silentLogger);
const module = (await import(args.runner ? resolve(args.runner) : '../src/saga-runner.js')) as { SagaRunner: typeof SagaRunner };
const options = resolveOrderOptions(args['max-sagas'] ? { maxSagas: Number(args['max-sagas']) } : {});
const placed = new Map<string, number>();
const ended = new Map<string, { at: number; type: string }>();
const runner = new module.SagaRunner(
  store,
  simulated,
  options,
  (orderId, events) => {
    const last = events.at(-1)?.type;
    if (last === 'OrderConfirmed' || last === 'OrderCancelled') ended.set(orderId, { at: performance.now(), type: last });
  },
  silentLogger,
);
runner.start();
const t0 = performance.now();
// The current runner's call limits, every 2 s (a runner without them prints nothing).
const limits = setInterval(() => {
  const deps = (runner as Partial<Pick<SagaRunner, 'dependencies'>>).dependencies?.();
  if (deps) process.stdout.write(`  t=${((performance.now() - t0) / 1000).toFixed(0)} s inventory ${JSON.stringify(deps.inventory)}\n`);
}, 2_000);

const total = Math.round(rate * seconds);
for (let i = 0; i < total; i++) {
  const due = t0 + (i * 1000) / rate;
  const wait = due - performance.now();
  // Always through the timers phase: a driver behind schedule must not starve the runner's timers.
  await sleep(Math.max(0, wait));
  const r = await store.place({ idempotencyKey: `tl-${i}`, customerId: 'c', items: [{ sku: 'A1', qty: 1 }] });
  placed.set(r.orderId, performance.now());
  runner.offer(r.orderId, r.saga);
}
const sendEnd = performance.now();
while (ended.size < placed.size && performance.now() - sendEnd < Number(args.drain) * 1000) await sleep(200);
clearInterval(limits);
await runner.close();
await store.close();
await rm(dir, { recursive: true, force: true });

// Each order's life, cut into phases (ms), for the orders that ended.
const phases = { beforeFirstCall: 0, payment: 0, inventory: 0, afterBreakerRefusal: 0, afterFailure: 0, other: 0 };
let n = 0;
let totalMs = 0;
for (const [orderId, end] of ended) {
  const start = placed.get(orderId)!;
  const list = (calls.get(orderId) ?? []).sort((a, b) => a.start - b.start);
  n++;
  totalMs += end.at - start;
  phases.beforeFirstCall += (list[0]?.start ?? end.at) - start;
  for (let i = 0; i < list.length; i++) {
    const c = list[i]!;
    const dur = c.end - c.start;
    if (c.step.startsWith('payment.')) phases.payment += dur;
    else phases.inventory += dur;
    const next = list[i + 1]?.start ?? end.at;
    const gap = next - c.end;
    if (c.error === 'CIRCUIT_OPEN') phases.afterBreakerRefusal += gap;
    else if (c.error) phases.afterFailure += gap;
    else phases.other += gap;
  }
}
const avg = Object.fromEntries(Object.entries(phases).map(([k, v]) => [k, n ? Math.round(v / n) : 0]));
const confirmed = [...ended.values()].filter((e) => e.type === 'OrderConfirmed').length;
const within10 = [...ended.values()].filter((e) => e.type === 'OrderConfirmed' && e.at <= sendEnd + 10_000).length;
const opened = [...breakers].map(([route, b]) => `${route} opened ${b.counters.opened}, refused ${b.counters.rejected}`).join('; ');
process.stdout.write(
  `${args.runner ?? 'current runner'}, maxSagas ${options.maxSagas}, breaker ${args.breaker}; ${rate}/s for ${seconds} s, inventory ${latencyMs} ms, ${failureRate * 100}% failures\n` +
    `placed ${placed.size}; ended ${ended.size} (${confirmed} confirmed, ${within10} within 10 s after sending); average ms per ended order: total ${n ? Math.round(totalMs / n) : 0}, ${JSON.stringify(avg)}\n` +
    `breakers: ${opened}\n`,
);

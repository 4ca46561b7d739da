/**
 * The saga runner against a gateway that refuses calls itself (an open or
 * half-open breaker, a rate limit) with a "retry after" hint: those calls
 * never reached the service, so they spend no attempt, up to stepDeferrals in
 * a row. The store is the real one (PGlite in a temporary directory); the
 * gateway connection is scripted, because a breaker's half-open refusals
 * cannot be produced on cue through a real one.
 */
import { cp, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { SluiceError } from 'sluice';
import { silentLogger } from 'sluice';
import { OrderStore } from '../../src/order-store.js';
import { pgliteTemplate } from '../helpers/checkout.js';
import { SagaRunner, type StepCaller } from '../../src/saga-runner.js';
import type { SagaStep } from '../../src/saga.js';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

type Script = (step: SagaStep, call: number) => unknown;

async function run(script: Script, options: { stepAttempts: number; stepDeferrals: number }) {
  const dir = await mkdtemp(join(tmpdir(), 'sluice-saga-'));
  // A copy of an initialised cluster: initialising one per test costs seconds of CPU.
  await cp(await pgliteTemplate(), join(dir, 'order'), { recursive: true });
  const store = await OrderStore.open(join(dir, 'order'), silentLogger);
  cleanups.push(async () => {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });
  const calls: SagaStep[] = [];
  const caller: StepCaller = {
    connected: true,
    whenConnected: () => Promise.resolve(),
    call: async (step) => {
      calls.push(step);
      const answer = script(step, calls.filter((s) => s === step).length);
      if (answer instanceof Error) throw answer;
      return answer;
    },
  };
  let ended: (state: string) => void = () => {};
  const done = new Promise<string>((resolve) => (ended = resolve));
  const runner = new SagaRunner(
    store,
    caller,
    { maxSagas: 4, stepDeadlineMs: 1_000, retryInitialDelayMs: 1, retryMaxDelayMs: 2, compensationRetryMs: 60_000, ...options },
    (_orderId, events) => {
      const last = events.at(-1)?.type;
      if (last === 'OrderConfirmed' || last === 'OrderCancelled') ended(last);
    },
    silentLogger,
  );
  cleanups.push(() => runner.close());
  const { orderId } = await store.place({ idempotencyKey: 'k-1', customerId: 'c-1', items: [{ sku: 'A1', qty: 1 }] });
  runner.offer(orderId);
  return { outcome: await done, calls, saga: () => store.saga(orderId) };
}

const circuitOpen = (retryAfterMs: number | undefined) =>
  new SluiceError('CIRCUIT_OPEN', 'circuit open for route on every instance', retryAfterMs === undefined ? {} : { details: { retryAfterMs } });
const ok: Partial<Record<SagaStep, unknown>> = {
  'payment.authorize': { status: 'AUTHORIZED', paymentId: 'pay_1', amountCents: 2450 },
  'inventory.reserve': { status: 'RESERVED' },
  'inventory.release': { released: false },
  'payment.refund': { refunded: false },
};

describe('saga steps refused by the gateway itself', () => {
  it('wait out a breaker without spending attempts, and the order confirms once it lets calls through', async () => {
    // Ten refusals in a row (a half-open breaker busy with its probes), with only 2 attempts allowed.
    const r = await run((step, n) => (step === 'payment.authorize' && n <= 10 ? circuitOpen(1) : ok[step]), { stepAttempts: 2, stepDeferrals: 20 });
    expect(r.outcome).toBe('OrderConfirmed');
    expect(r.calls.filter((s) => s === 'payment.authorize')).toHaveLength(11);
  });

  it('are bounded: past stepDeferrals in a row a refusal counts as an attempt, and the saga gives up and compensates', async () => {
    const r = await run((step) => (step === 'payment.authorize' ? circuitOpen(1) : ok[step]), { stepAttempts: 2, stepDeferrals: 3 });
    expect(r.outcome).toBe('OrderCancelled');
    // Per attempt: 3 refusals waited out, then the 4th counts; 2 attempts.
    expect(r.calls.filter((s) => s === 'payment.authorize')).toHaveLength(8);
    expect(r.calls).toContain('payment.refund');
  });

  it('without a retry hint a refusal is an attempt like any failure', async () => {
    const r = await run((step) => (step === 'payment.authorize' ? circuitOpen(undefined) : ok[step]), { stepAttempts: 2, stepDeferrals: 20 });
    expect(r.outcome).toBe('OrderCancelled');
    expect(r.calls.filter((s) => s === 'payment.authorize')).toHaveLength(2);
  });

  it('failures that reached the service always count', async () => {
    const r = await run((step) => (step === 'payment.authorize' ? new SluiceError('INTERNAL', 'simulated failure') : ok[step]), { stepAttempts: 3, stepDeferrals: 20 });
    expect(r.outcome).toBe('OrderCancelled');
    expect(r.calls.filter((s) => s === 'payment.authorize')).toHaveLength(3);
  });
});

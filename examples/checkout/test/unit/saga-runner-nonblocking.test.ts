/**
 * The saga runner does not hold a slot while a saga waits: calls toward a
 * dependency are bounded by that dependency's limit, a saga waiting on a
 * slow inventory does not keep other sagas from payment, and a saga in
 * backoff holds no call permit. The store is the real one (PGlite in a
 * temporary directory); the gateway connection is scripted so that answers
 * arrive exactly when the test releases them.
 */
import { cp, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { SluiceError } from 'sluice';
import { silentLogger } from 'sluice';
import { OrderStore } from '../../src/order-store.js';
import { pgliteTemplate } from '../helpers/checkout.js';
import { SagaRunner, type SagaRunnerOptions, type StepCaller } from '../../src/saga-runner.js';
import type { SagaStep } from '../../src/saga.js';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

interface Call {
  readonly step: SagaStep;
  readonly orderId: string;
  answer(value: unknown): void;
  fail(e: Error): void;
}

const answers: Record<SagaStep, unknown> = {
  'payment.authorize': { status: 'AUTHORIZED', paymentId: 'pay_1', amountCents: 2450 },
  'inventory.reserve': { status: 'RESERVED' },
  'inventory.release': { released: false },
  'payment.refund': { refunded: false },
};

/** Polls `cond` every 5 ms, failing after `ms`: a bounded wait on a condition, not a sleep. */
async function until(cond: () => boolean, what: string, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

async function setup(options: Partial<SagaRunnerOptions>, autoAnswer: (step: SagaStep) => boolean) {
  const dir = await mkdtemp(join(tmpdir(), 'sluice-saga-nb-'));
  // A copy of an initialised cluster: initialising one per test costs seconds of CPU.
  await cp(await pgliteTemplate(), join(dir, 'order'), { recursive: true });
  const store = await OrderStore.open(join(dir, 'order'), silentLogger);
  cleanups.push(async () => {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });
  const calls: Call[] = [];
  let inFlight: Partial<Record<SagaStep, number>> = {};
  const maxInFlight: Partial<Record<SagaStep, number>> = {};
  const caller: StepCaller = {
    connected: true,
    whenConnected: () => Promise.resolve(),
    call: (step, data, _deadlineMs, signal) => {
      inFlight = { ...inFlight, [step]: (inFlight[step] ?? 0) + 1 };
      maxInFlight[step] = Math.max(maxInFlight[step] ?? 0, inFlight[step]!);
      return new Promise((resolve, reject) => {
        const done = () => (inFlight = { ...inFlight, [step]: inFlight[step]! - 1 });
        const call: Call = {
          step,
          orderId: (data as { orderId: string }).orderId,
          answer: (v) => (done(), resolve(v)),
          fail: (e) => (done(), reject(e)),
        };
        calls.push(call);
        // The runner stopping aborts the call, as the real connection does.
        signal.addEventListener('abort', () => call.fail(new SluiceError('CANCELED', 'aborted')), { once: true });
        if (autoAnswer(step)) call.answer(answers[step]);
      });
    },
  };
  const ended = new Map<string, string>();
  const runner = new SagaRunner(
    store,
    caller,
    { maxSagas: 1_000, stepDeadlineMs: 60_000, stepAttempts: 6, stepDeferrals: 20, retryInitialDelayMs: 1, retryMaxDelayMs: 2, compensationRetryMs: 60_000, ...options },
    (orderId, events) => {
      const last = events.at(-1)?.type;
      if (last === 'OrderConfirmed' || last === 'OrderCancelled') ended.set(orderId, last);
    },
    silentLogger,
  );
  cleanups.push(() => runner.close());
  const place = async (n: number) => {
    const ids: string[] = [];
    for (let i = 0; i < n; i++) {
      const r = await store.place({ idempotencyKey: `k-${i}`, customerId: 'c-1', items: [{ sku: 'A1', qty: 1 }] });
      runner.offer(r.orderId, r.saga);
      ids.push(r.orderId);
    }
    return ids;
  };
  return { calls, maxInFlight, inFlight: () => inFlight, ended, runner, place };
}

// Each test opens a PGlite store, which takes seconds on a loaded machine.
describe('the saga runner holds no slot while a saga waits', { timeout: 90_000 }, () => {
  it('bounds calls toward a slow dependency by its limit, while every saga still gets through payment', async () => {
    // Inventory never answers until the test says so; payment answers at once.
    const t = await setup({ maxStepCalls: 10, initialStepCalls: 10 }, (step) => step === 'payment.authorize');
    const ids = await t.place(40);
    // All 40 sagas pass payment although inventory holds 10 calls that do not answer.
    await until(() => t.calls.filter((c) => c.step === 'payment.authorize').length === 40, 'every authorize');
    await until(() => t.calls.filter((c) => c.step === 'inventory.reserve').length === 10, 'the first 10 reserves');
    expect(t.inFlight()['inventory.reserve']).toBe(10);
    expect(t.runner.active).toBe(40);
    // Answer reserves as they come out: each answer lets another call out, never more than the limit at once.
    const answered = new Set<Call>();
    const unanswered = () => t.calls.filter((c) => c.step === 'inventory.reserve' && !answered.has(c));
    while (t.ended.size < 40) {
      for (const c of unanswered()) {
        answered.add(c);
        c.answer(answers['inventory.reserve']);
      }
      await until(() => t.ended.size === 40 || unanswered().length > 0, 'the next reserves');
    }
    expect([...t.ended.values()].every((v) => v === 'OrderConfirmed')).toBe(true);
    expect(new Set(t.ended.keys())).toEqual(new Set(ids));
    expect(t.maxInFlight['inventory.reserve']).toBeLessThanOrEqual(t.runner.dependencies().inventory.limit);
    expect(t.maxInFlight['inventory.reserve']).toBeGreaterThanOrEqual(10);
    // Each answered at once in this script, so no saga spent time in backoff or deferral.
    expect(t.runner.phases()).toMatchObject({ ended: 40, avgMs: { backoff: 0, deferred: 0 } });
  });

  it('a saga in backoff holds no permit: the next saga calls before its retry', async () => {
    const t = await setup({ maxStepCalls: 1, initialStepCalls: 1 }, (step) => step === 'payment.authorize');
    const [a, b] = await t.place(2);
    await until(() => t.calls.some((c) => c.step === 'inventory.reserve'), "A's reserve");
    const first = t.calls.find((c) => c.step === 'inventory.reserve')!;
    expect(first.orderId).toBe(a);
    // B waits for the only permit.
    await until(() => t.calls.filter((c) => c.step === 'payment.authorize').length === 2, "B's authorize");
    expect(t.calls.filter((c) => c.step === 'inventory.reserve')).toHaveLength(1);
    first.fail(new SluiceError('UNAVAILABLE', 'inventory restarting'));
    await until(() => t.calls.filter((c) => c.step === 'inventory.reserve').length === 2, 'the next reserve');
    // The permit went to B, not to A's retry after its backoff.
    const second = t.calls.filter((c) => c.step === 'inventory.reserve')[1]!;
    expect(second.orderId).toBe(b);
    second.answer(answers['inventory.reserve']);
    await until(() => t.calls.filter((c) => c.step === 'inventory.reserve').length === 3, "A's retry");
    const retry = t.calls.filter((c) => c.step === 'inventory.reserve')[2]!;
    expect(retry.orderId).toBe(a);
    retry.answer(answers['inventory.reserve']);
    await until(() => t.ended.size === 2, 'both sagas');
    expect(t.ended.get(a!)).toBe('OrderConfirmed');
  });

  it('past maxSagas new sagas wait in the store and start as others end', async () => {
    const t = await setup({ maxSagas: 3, maxStepCalls: 10, initialStepCalls: 10 }, (step) => step === 'payment.authorize');
    await t.place(5);
    await until(() => t.calls.filter((c) => c.step === 'inventory.reserve').length === 3, 'three reserves');
    expect(t.runner.active).toBe(3);
    expect(t.calls.filter((c) => c.step === 'payment.authorize')).toHaveLength(3);
    for (const c of t.calls.filter((x) => x.step === 'inventory.reserve')) c.answer(answers['inventory.reserve']);
    await until(() => t.ended.size === 3, 'the first three');
    await until(() => t.calls.filter((c) => c.step === 'inventory.reserve').length === 5, 'the two that waited in the store');
    for (const c of t.calls.filter((x) => x.step === 'inventory.reserve').slice(3)) c.answer(answers['inventory.reserve']);
    await until(() => t.ended.size === 5, 'all five');
    expect(t.runner.max).toBe(3);
  });

  it('close() ends sagas in a call, in backoff and waiting for a permit; waits that end on their own leave nothing registered', async () => {
    const t = await setup({ maxStepCalls: 2, initialStepCalls: 2, retryInitialDelayMs: 3_600_000, retryMaxDelayMs: 3_600_000 }, (step) => step === 'payment.authorize');
    await t.place(6);
    await until(() => t.calls.filter((c) => c.step === 'inventory.reserve').length === 2, 'two reserves');
    await until(() => t.calls.filter((c) => c.step === 'payment.authorize').length === 6, 'every authorize');
    // One reserve fails: its saga backs off for an hour and the permit goes to a waiting saga.
    t.calls.find((c) => c.step === 'inventory.reserve')!.fail(new SluiceError('UNAVAILABLE', 'inventory restarting'));
    await until(() => t.calls.filter((c) => c.step === 'inventory.reserve').length === 3, 'the next reserve');
    // 2 calls, 1 backoff, 3 waiting for a permit: one registered wait each.
    await until(() => t.runner.waits === 6, 'six waits');
    expect(t.runner.active).toBe(6);
    // Answering the calls in flight lets the permit waiters through, two at a time; each ended wait is gone.
    const failed = t.calls.find((c) => c.step === 'inventory.reserve')!;
    const answered = new Set<Call>([failed]);
    while (t.ended.size < 5) {
      for (const c of t.calls.filter((x) => x.step === 'inventory.reserve' && !answered.has(x))) {
        answered.add(c);
        c.answer(answers['inventory.reserve']);
      }
      await until(() => t.ended.size === 5 || t.calls.some((x) => x.step === 'inventory.reserve' && !answered.has(x)), 'the next reserves');
    }
    // Only the saga in its hour-long backoff is left, with its one wait.
    expect(t.runner.active).toBe(1);
    expect(t.runner.waits).toBe(1);
    await t.runner.close();
    expect(t.runner.active).toBe(0);
    expect(t.runner.waits).toBe(0);
  });
});

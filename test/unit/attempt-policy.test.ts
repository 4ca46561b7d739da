import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { pickInstance, retryDelay, type PickInput, type RetryInput } from '../../src/broker/attempt-policy.js';
import type { Instance } from '../../src/broker/registry.js';
import { defaultRoutePolicy } from '../../src/policy/policy-config.js';
import { CircuitBreaker } from '../../src/resilience/circuit-breaker.js';
import { deadLetterable } from '../../src/deadletter/rules.js';
import type { Connection } from '../../src/rsocket/connection.js';

function instance(id: string, active = 0, writable = true): Instance {
  return { id, service: 'svc', connection: { writable, isOpen: true } as unknown as Connection, owner: 'open', routes: new Map(), registeredAt: 0, active };
}

function pick(overrides: Partial<PickInput>): ReturnType<typeof pickInstance> {
  return pickInstance({ route: 'svc.op', candidates: [], tried: new Set(), activeOn: () => 0, maxPerInstance: 10, breaker: () => undefined, ...overrides });
}

const id = (p: ReturnType<typeof pickInstance>) => ('error' in p ? p.error.code : p.instance.id);

/** The ordering pickInstance follows, as the sort it was first written as: the fast path must pick what this picks. */
function referencePick(input: PickInput): string {
  const { candidates, tried } = input;
  if (candidates.length === 0) return 'NO_ROUTE';
  const untried = candidates.filter((i) => !tried.has(i));
  const pool = (untried.length ? untried : candidates).filter((i) => input.activeOn(i) < input.maxPerInstance);
  if (pool.length === 0) return 'OVERLOADED';
  pool.sort((a, b) => Number(b.connection.writable) - Number(a.connection.writable) || a.active - b.active);
  for (const instance of pool) {
    const breaker = input.breaker(instance);
    if (!breaker || breaker.tryAcquire()) return instance.id;
  }
  return 'CIRCUIT_OPEN';
}

describe('attempt policy: picking an instance', () => {
  it('picks what a stable sort of the pool by (reading, load) then the first admitting breaker picks, asking each breaker at most once', () => {
    const spec = fc.array(fc.record({ active: fc.integer({ min: 0, max: 3 }), writable: fc.boolean(), tried: fc.boolean(), inFlight: fc.integer({ min: 0, max: 3 }), admits: fc.boolean() }), { maxLength: 6 });
    fc.assert(
      fc.property(spec, fc.integer({ min: 1, max: 3 }), (specs, maxPerInstance) => {
        const instances = specs.map((x, k) => instance(`i${k}`, x.active, x.writable));
        const asked = new Map<string, number>();
        const input = (): PickInput => ({
          route: 'svc.op',
          candidates: instances,
          tried: new Set(instances.filter((_, k) => specs[k]!.tried)),
          activeOn: (i) => specs[instances.indexOf(i)]!.inFlight,
          maxPerInstance,
          breaker: (i) => ({
            tryAcquire: () => {
              asked.set(i.id, (asked.get(i.id) ?? 0) + 1);
              return specs[instances.indexOf(i)]!.admits;
            },
            remainingOpenMs: () => 5,
          }) as unknown as CircuitBreaker,
        });
        const expected = referencePick(input());
        const askedByReference = new Map(asked);
        asked.clear();
        expect(id(pickInstance(input()))).toBe(expected);
        expect(asked).toEqual(askedByReference);
      }),
      { numRuns: 1000 },
    );
  });

  it('NO_ROUTE without candidates; the least loaded reading instance otherwise; untried first', () => {
    expect(id(pick({}))).toBe('NO_ROUTE');
    const [a, b, c] = [instance('a', 3), instance('b', 1), instance('c', 0, false)];
    expect(id(pick({ candidates: [a, b, c] }))).toBe('b');
    expect(id(pick({ candidates: [a, b, c], tried: new Set([b]) }))).toBe('a');
    // Everything tried: the whole pool again.
    expect(id(pick({ candidates: [a, b], tried: new Set([a, b]) }))).toBe('b');
  });

  it('OVERLOADED when every instance is at its per-instance limit', () => {
    const p = pick({ candidates: [instance('a')], activeOn: () => 2, maxPerInstance: 2 });
    expect(id(p)).toBe('OVERLOADED');
    expect('error' in p && p.allOpen).toBe(false);
  });

  it('skips instances whose breaker refuses; CIRCUIT_OPEN with allOpen (the fallback cue) when all do', () => {
    const [a, b] = [instance('a', 0), instance('b', 5)];
    const open = new CircuitBreaker({ ...defaultRoutePolicy.breaker, minimumCalls: 1, windowSize: 1 });
    open.onFailure(1);
    expect(open.state).toBe('open');
    expect(id(pick({ candidates: [a, b], breaker: (i) => (i === a ? open : undefined) }))).toBe('b');
    const all = pick({ candidates: [a, b], breaker: () => open });
    expect(id(all)).toBe('CIRCUIT_OPEN');
    expect('error' in all && all.allOpen).toBe(true);
  });
});

describe('attempt policy: retry delay', () => {
  const base: RetryInput = { model: 'response', code: 'UNAVAILABLE', emitted: false, idempotent: true, attempts: 1, remainingMs: undefined, retry: { ...defaultRoutePolicy.retry, initialDelayMs: 100, maxDelayMs: 100 } };

  it('retries idempotent, unemitted, non-channel interactions on a retryable code within the attempts', () => {
    const d = retryDelay(base);
    expect(d?.retry).toBe(true);
    expect(d?.retry && d.delayMs).toBeGreaterThanOrEqual(0);
    expect(d?.retry && d.delayMs).toBeLessThan(100);
  });

  it('is final for channels, non-idempotent routes, emitted streams, other codes, spent attempts, and a deadline too close', () => {
    expect(retryDelay({ ...base, model: 'channel' })).toBeUndefined();
    expect(retryDelay({ ...base, idempotent: false })).toBeUndefined();
    expect(retryDelay({ ...base, model: 'stream', emitted: true })).toBeUndefined();
    expect(retryDelay({ ...base, code: 'INVALID_ARGUMENT' })).toBeUndefined();
    expect(retryDelay({ ...base, attempts: base.retry.maxAttempts })).toEqual({ retry: false, why: 'attempts' });
    expect(retryDelay({ ...base, remainingMs: 0 })).toEqual({ retry: false, why: 'deadline' });
    expect(retryDelay({ ...base, budget: { tryWithdraw: () => false } })).toEqual({ retry: false, why: 'budget' });
  });
});

describe('dead-letter rules', () => {
  const on = { ...defaultRoutePolicy, deadLetter: true };
  it('nothing without the policy', () => {
    expect(deadLetterable({ at: 'failed', model: 'response' }, 'POISON_MESSAGE', defaultRoutePolicy)).toBe(false);
  });
  it('refused at the door: only request-response NO_ROUTE', () => {
    expect(deadLetterable({ at: 'refused', model: 'response' }, 'NO_ROUTE', on)).toBe(true);
    expect(deadLetterable({ at: 'refused', model: 'stream' }, 'NO_ROUTE', on)).toBe(false);
    expect(deadLetterable({ at: 'refused', model: 'response' }, 'OVERLOADED', on)).toBe(false);
  });
  it('failed after the attempts: request-response on the dead-letterable or retryable codes', () => {
    for (const code of ['POISON_MESSAGE', 'NO_ROUTE', 'CIRCUIT_OPEN', 'DEADLINE_EXCEEDED', 'UNAVAILABLE'] as const) expect(deadLetterable({ at: 'failed', model: 'response' }, code, on), code).toBe(true);
    expect(deadLetterable({ at: 'failed', model: 'response' }, 'INVALID_ARGUMENT', on)).toBe(false);
    expect(deadLetterable({ at: 'failed', model: 'channel' }, 'UNAVAILABLE', on)).toBe(false);
  });
  it('fire-and-forget: on a served route, except the caller\'s own mistakes and refusals of its grant', () => {
    expect(deadLetterable({ at: 'fnf', served: true }, 'OVERLOADED', on)).toBe(true);
    expect(deadLetterable({ at: 'fnf', served: false }, 'NO_ROUTE', on)).toBe(false);
    expect(deadLetterable({ at: 'fnf', served: true }, 'INVALID_ARGUMENT', on)).toBe(false);
    expect(deadLetterable({ at: 'fnf', served: true }, 'PERMISSION_DENIED', on)).toBe(false);
  });
});

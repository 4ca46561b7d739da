import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/config-error.js';
import { compilePolicies, defaultRoutePolicy } from '../../src/policy/policy-config.js';
import { applyPolicyFlags } from '../../src/cli/gateway-command.js';
import { SUBMIT_CHANNELS_PER_IDENTITY, checkoutPolicies, policyFlags } from '../../examples/checkout/src/gateway-policies.js';

describe('compilePolicies', () => {
  it('gives every route the defaults when nothing is configured', () => {
    expect(compilePolicies(undefined).for('any.route')).toEqual(defaultRoutePolicy);
  });

  it('overlays defaults, then the longest prefix pattern, then the exact route', () => {
    const t = compilePolicies({
      defaults: { retry: { maxAttempts: 2 }, deadlineMs: 5000 },
      routes: {
        '*': { bulkhead: { maxQueue: 7 } },
        'payment.*': { retry: { maxAttempts: 4 }, deadLetter: true },
        'payment.card.*': { retry: { maxAttempts: 6 } },
        'payment.card.charge': { deadlineMs: null, rateLimit: { ratePerSec: 10, burst: 20 } },
      },
    });
    const charge = t.for('payment.card.charge');
    expect(charge.retry.maxAttempts).toBe(6);
    expect(charge.retry.initialDelayMs).toBe(defaultRoutePolicy.retry.initialDelayMs);
    expect(charge.deadLetter).toBe(true);
    expect(charge.deadlineMs).toBeNull();
    expect(charge.rateLimit).toEqual({ ratePerSec: 10, burst: 20 });
    expect(charge.bulkhead.maxQueue).toBe(7);
    expect(t.for('payment.refund').retry.maxAttempts).toBe(4);
    expect(t.for('orders.watch')).toMatchObject({ deadlineMs: 5000, retry: { maxAttempts: 2 }, deadLetter: false });
    expect(t.anyDeadLetter).toBe(true);
    expect(compilePolicies({ defaults: {}, routes: {} }).anyDeadLetter).toBe(false);
  });

  it.each([
    [{ defaults: { retry: { maxAttempts: 0 } } }, "config 'policies.defaults.retry.maxAttempts': must be an integer from 1 to 10, got 0"],
    [{ routes: { 'a.b': { breaker: { failureRateThreshold: 1.5 } } } }, "config 'policies.routes.a.b.breaker.failureRateThreshold': must be a number from 0.01 to 1, got 1.5"],
    [{ routes: { 'a.b': { bulkhead: { maxWaitMs: 'soon' } } } }, `config 'policies.routes.a.b.bulkhead.maxWaitMs': must be an integer from 0 to 600000, got "soon"`],
    [{ routes: { 'a.b': { retry: { retryOn: ['NOPE'] } } } }, `config 'policies.routes.a.b.retry.retryOn': must be an array of Sluice error codes (see docs/protocol.md), got ["NOPE"]`],
    [{ routes: { 'a.b': { rateLimit: { ratePerSec: 5 } } } }, `config 'policies.routes.a.b.rateLimit': needs both "ratePerSec" and "burst"`],
    [{ routes: { 'a.b': { retry: { initialDelayMs: 500, maxDelayMs: 100 } } } }, "config 'policies.routes.a.b.retry.initialDelayMs': must not exceed retry.maxDelayMs (100)"],
    [{ routes: { 'a.b': { breaker: { minimumCalls: 30 } } } }, "config 'policies.routes.a.b.breaker.minimumCalls': must not exceed breaker.windowSize (20)"],
    [{ routes: { 'a.b': { fallback: 'not a route!' } } }, `config 'policies.routes.a.b.fallback': must be a route name, got "not a route!"`],
    [{ routes: { 'a.b': { retry: null } } }, "config 'policies.routes.a.b.retry': must not be null"],
    [{ routes: { 'bad route': {} } }, `config 'policies.routes.bad route': must be a route name or a prefix pattern ending in ".*"`],
    [{ extra: {} }, "config 'policies.extra': unknown key; known keys are policies.defaults, policies.routes"],
    ...[0, -1, 1.5, 10_000_001, '0.5'].map((v): [unknown, string] => [
      { routes: { 'a.b': { bulkhead: { maxPerIdentity: v } } } },
      `config 'policies.routes.a.b.bulkhead.maxPerIdentity': must be a fraction of maxConcurrent above 0 and below 1, or an integer count from 1 to 10000000, got ${JSON.stringify(v)}`,
    ]),
  ])('rejects %j', (input, message) => {
    expect(() => compilePolicies(input)).toThrow(ConfigError);
    expect(() => compilePolicies(input)).toThrow(message);
  });

  it('gives each identity half of a route by default; bulkhead.maxPerIdentity takes a fraction or a count', () => {
    expect(defaultRoutePolicy.bulkhead.maxPerIdentity).toBe(0.5);
    const t = compilePolicies({ routes: { 'a.frac': { bulkhead: { maxPerIdentity: 0.1 } }, 'a.count': { bulkhead: { maxPerIdentity: 16 } }, 'a.one': { bulkhead: { maxPerIdentity: 1 } } } });
    expect(t.for('a.frac').bulkhead.maxPerIdentity).toBe(0.1);
    expect(t.for('a.count').bulkhead.maxPerIdentity).toBe(16);
    expect(t.for('a.one').bulkhead.maxPerIdentity).toBe(1);
  });

  it('names unknown keys with the keys that exist', () => {
    expect(() => compilePolicies({ routes: { 'a.b': { breaker: { windowSise: 5 } } } })).toThrow(/config 'policies.routes.a.b.breaker.windowSise': unknown key; known keys are breaker.enabled, breaker.windowSize/);
  });
});

describe('--policy flags', () => {
  it('overlay route, prefix and defaults settings with JSON values on the config file', () => {
    const p = applyPolicyFlags({ routes: { 'a.b': { deadlineMs: 100 } } }, [
      'a.b:retry.maxAttempts=4',
      'payment.*:deadLetter=true',
      'defaults:breaker.enabled=false',
      'a.b:fallback=a.fallback',
      'ns:x.y:deadlineMs=50',
    ]);
    expect(p.routes!['a.b']).toEqual({ deadlineMs: 100, retry: { maxAttempts: 4 }, fallback: 'a.fallback' });
    expect(p.routes!['payment.*']).toEqual({ deadLetter: true });
    expect(p.routes!['ns:x.y']).toEqual({ deadlineMs: 50 });
    expect(p.defaults).toEqual({ breaker: { enabled: false } });
    expect(compilePolicies(p).for('a.b').retry.maxAttempts).toBe(4);
  });

  it('carry per-identity shares, as the demo and the scale benchmark pass them', () => {
    const p = applyPolicyFlags(undefined, [...policyFlags(checkoutPolicies).filter((_, i, all) => all[i - 1] === '--policy'), 'bench.source:bulkhead.maxPerIdentity=10000']);
    const t = compilePolicies(p);
    expect(t.for('checkout.submit').bulkhead.maxPerIdentity).toBe(SUBMIT_CHANNELS_PER_IDENTITY);
    expect(t.for('bench.source').bulkhead.maxPerIdentity).toBe(10_000);
  });

  it('rejects a flag without route, key or value', () => {
    for (const bad of ['retry.maxAttempts=3', 'a.b:=3', 'a.b:retry']) {
      expect(() => applyPolicyFlags(undefined, [bad])).toThrow(/expected ROUTE:KEY=VALUE/);
    }
  });
});

import { of } from 'rxjs';
import { describe, expect, it } from 'vitest';
import * as operators from '../../src/resilience/operators/index.js';
import { Bulkhead } from '../../src/resilience/bulkhead.js';
import { CircuitBreaker } from '../../src/resilience/circuit-breaker.js';

describe('resilience operators index', () => {
  it('re-exports every operator', () => {
    expect(Object.keys(operators).sort()).toEqual(['bulkhead', 'circuitBreaker', 'isRetryable', 'retryWithBackoff', 'withDeadline']);
  });

  it('they compose in the usual order: deadline outside retries, retries outside breaker and bulkhead', () => {
    const breaker = new CircuitBreaker({}, () => 0);
    const bh = new Bulkhead({ maxConcurrent: 1 });
    const seen: unknown[] = [];
    of(1, 2)
      .pipe(operators.bulkhead(bh), operators.circuitBreaker(breaker), operators.retryWithBackoff({ maxAttempts: 3 }), operators.withDeadline(1_000))
      .subscribe({ next: (v) => seen.push(v), complete: () => seen.push('done') });
    expect(seen).toEqual([1, 2, 'done']);
    expect([bh.active, breaker.counters.successes]).toEqual([0, 1]);
  });
});

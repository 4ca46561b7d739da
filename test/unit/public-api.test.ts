/** The public entry points export what the README and docs promise. */
import { describe, expect, it } from 'vitest';
import { defer, lastValueFrom, throwError } from 'rxjs';
import * as sluice from '../../src/index.js';
import * as browserClient from '../../clients/browser/index.js';
import * as nodeClient from '../../clients/node/index.js';

describe('public API', () => {
  it('sluice exports the gateway, service, client, errors and resilience operators', () => {
    for (const name of ['createGateway', 'connectService', 'connect', 'SluiceError', 'lastItem', 'withDeadline', 'retryWithBackoff', 'circuitBreaker', 'bulkhead', 'CircuitBreaker', 'Bulkhead', 'RetryBudget', 'deadlineEntry', 'natsDiscovery', 'AdaptiveLimit', 'nextRetry', 'backoffDelay']) {
      expect(sluice, name).toHaveProperty(name);
    }
  });

  it('sluice exports the logging it accepts, and neither the checkout demo nor the bench service', () => {
    for (const name of ['silentLogger', 'createLogger']) expect(sluice, name).toHaveProperty(name);
    for (const name of ['benchRoutes', 'startOrderService', 'startPaymentService', 'startInventoryService']) expect(sluice, name).not.toHaveProperty(name);
  });

  it('the Node and browser clients export the same API', () => {
    for (const name of ['connect', 'SluiceError', 'MimeTypes', 'routeMetadata']) {
      expect(nodeClient, name).toHaveProperty(name);
      expect(browserClient, name).toHaveProperty(name);
    }
  });

  it('the resilience building blocks a service uses work from the public entry point', async () => {
    expect(sluice.nextRetry(1, { maxAttempts: 2, initialDelayMs: 0, maxDelayMs: 0, multiplier: 2 })).toEqual({ retry: true, delayMs: 0 });
    expect(sluice.nextRetry(2, { maxAttempts: 2, initialDelayMs: 0, maxDelayMs: 0, multiplier: 2 })).toEqual({ retry: false, why: 'attempts' });
    const limit = new sluice.AdaptiveLimit({ initialLimit: 1, minLimit: 1, maxLimit: 1, maxQueue: 0 });
    const permit = await limit.acquire();
    await expect(limit.acquire()).rejects.toMatchObject({ code: 'OVERLOADED' });
    permit.success();
  });

  it('the operators work from the public entry point', async () => {
    let attempts = 0;
    const flaky = defer(() => (++attempts < 3 ? throwError(() => new sluice.SluiceError('UNAVAILABLE', 'down')) : Promise.resolve('ok')));
    await expect(lastValueFrom(flaky.pipe(sluice.retryWithBackoff({ maxAttempts: 3, initialDelayMs: 0, maxDelayMs: 0 })))).resolves.toBe('ok');
    expect(attempts).toBe(3);
  });
});

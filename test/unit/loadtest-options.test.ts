import { describe, expect, it } from 'vitest';
import { OptionError, isLoopbackHost, loadtestDefaults, resolveLoadtestOptions } from '../../src/loadtest/options.js';

describe('loadtest options', () => {
  it('has defaults for everything, with the route following the mode', () => {
    expect(resolveLoadtestOptions({})).toEqual(loadtestDefaults);
    expect(resolveLoadtestOptions({ mode: 'rr' }).route).toBe('bench.echo');
    expect(resolveLoadtestOptions({ producers: '7' }).consumers).toBe(7);
  });

  it('reads every flag', () => {
    const o = resolveLoadtestOptions({
      url: 'ws://localhost:9000/',
      'admin-url': 'none',
      route: 'orders.sink',
      producers: '2',
      consumers: '16',
      'consumer-delay-ms': '10',
      rate: '1600.5',
      count: '5000',
      'duration-s': '2.5',
      'drain-s': '0',
      size: '0',
      json: true,
    });
    expect(o).toMatchObject({
      url: 'ws://localhost:9000',
      adminUrl: null,
      route: 'orders.sink',
      producers: 2,
      consumers: 16,
      consumerDelayMs: 10,
      rate: 1600.5,
      count: 5000,
      durationS: 2.5,
      drainS: 0,
      size: 0,
      json: true,
    });
    expect(resolveLoadtestOptions({ mode: 'rr', concurrency: '8' }).concurrency).toBe(8);
    expect(resolveLoadtestOptions({ mode: 'rr', rate: '10', 'max-in-flight': '3' }).maxInFlight).toBe(3);
  });

  it.each([
    [{ producers: '0' }, "--producers must be an integer from 1 to 10000, got '0'"],
    [{ producers: '1.5' }, "--producers must be an integer from 1 to 10000, got '1.5'"],
    [{ consumers: '100001' }, '--consumers must be an integer from 1 to 100000'],
    [{ 'consumer-delay-ms': '-1' }, '--consumer-delay-ms must be an integer from 0 to 60000'],
    [{ rate: '0' }, "--rate must be a number from 0.1 to 10000000, got '0'"],
    [{ rate: 'fast' }, '--rate must be a number from 0.1 to 10000000'],
    [{ count: '' }, '--count must be an integer from 1 to 1000000000'],
    [{ 'duration-s': '3601' }, '--duration-s must be a number from 0.1 to 3600'],
    [{ 'drain-s': '601' }, '--drain-s must be a number from 0 to 600'],
    [{ size: '524289' }, '--size must be an integer from 0 to 524288'],
    [{ mode: 'pubsub' }, "--mode must be one of channel, rr, got 'pubsub'"],
    [{ route: '.bad' }, '--route must be 1-255 characters'],
    [{ url: 'http://127.0.0.1:7878' }, '--url must use ws:// or wss:// or tcp://'],
    [{ url: 'not a url' }, '--url must be a URL'],
    [{ 'admin-url': 'ws://127.0.0.1:7879' }, '--admin-url must use http:// or https://'],
    [{ mode: 'rr', consumers: '2' }, '--consumers applies to --mode channel only'],
    [{ mode: 'rr', 'consumer-delay-ms': '2' }, '--consumer-delay-ms applies to --mode channel only'],
    [{ concurrency: '2' }, '--concurrency applies to --mode rr only'],
    [{ mode: 'rr', rate: '5', concurrency: '2' }, '--concurrency is for closed loop'],
  ])('refuses %j with a message naming the range', (raw, message) => {
    expect(() => resolveLoadtestOptions(raw)).toThrow(OptionError);
    expect(() => resolveLoadtestOptions(raw)).toThrow(message);
  });

  it('refuses targets off this machine unless --allow-remote', () => {
    expect(() => resolveLoadtestOptions({ url: 'ws://10.0.0.5:7878' })).toThrow('--url ws://10.0.0.5:7878 is not a loopback address; the load tester floods its target, so a remote one needs --allow-remote');
    expect(() => resolveLoadtestOptions({ 'admin-url': 'http://example.com:7879' })).toThrow('--admin-url http://example.com:7879 is not a loopback address');
    expect(resolveLoadtestOptions({ url: 'ws://10.0.0.5:7878', 'admin-url': 'none', 'allow-remote': true }).url).toBe('ws://10.0.0.5:7878');
  });

  it('knows loopback hosts', () => {
    for (const h of ['127.0.0.1', '127.1.2.3', 'localhost', 'api.localhost', '[::1]', '::1', '::ffff:127.0.0.1']) expect(isLoopbackHost(h)).toBe(true);
    for (const h of ['10.0.0.1', '0.0.0.0', '128.0.0.1', 'example.com', '::', '127.0.0.256', 'localhost.example.com']) expect(isLoopbackHost(h)).toBe(false);
  });
});

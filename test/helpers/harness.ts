/**
 * Test harness: real gateways on port 0, real services and clients over real
 * sockets, and everything closed after each test.
 */
import { afterEach } from 'vitest';
import { createGateway, type Gateway } from '../../src/gateway.js';
import type { GatewayOptions } from '../../src/config.js';
import { connectService, type Service, type ServiceOptions } from '../../src/service/connect-service.js';
import { benchRoutes } from '../../src/loadtest/bench-service.js';
import { connect, type Client, type ClientOptions } from '../../clients/node/index.js';
import { establish } from '../../src/client/connector.js';
import { nodeTransport } from '../../src/transport/client-transport.js';
import { startChild, type Child } from '../../examples/checkout/src/supervisor.js';
import { routeMetadata } from '../../src/protocol/metadata.js';
import { encodeJson, decodeJson } from '../../src/protocol/json.js';
import type { Connection } from '../../src/rsocket/connection.js';
import type { Payload } from '../../src/protocol/frames.js';

export interface Harness {
  gateway(options?: GatewayOptions): Promise<Gateway>;
  service(options: Omit<ServiceOptions, 'routes'> & Partial<Pick<ServiceOptions, 'routes'>>): Promise<Service>;
  client(url: string | readonly string[], options?: Omit<ClientOptions, 'url'>): Promise<Client>;
  /** A bare RSocket connection (no client library logic), for precise demand control. */
  raw(url: string): Promise<Connection>;
  /** A bench service in its own process. */
  benchProcess(url: string, instance: string): Promise<Child>;
  onCleanup(fn: () => unknown): void;
}

export function useHarness(): Harness {
  let cleanups: Array<() => unknown> = [];
  afterEach(async () => {
    const fns = cleanups.reverse();
    cleanups = [];
    for (const fn of fns) await fn();
  });
  const h: Harness = {
    async gateway(options = {}) {
      const gw = await createGateway({
        ...options,
        listen: { port: 0, ...options.listen },
        admin: { port: 0, ...options.admin },
        logging: { level: process.env.SLUICE_TEST_LOG ?? 'silent', ...options.logging },
        drainTimeoutMs: options.drainTimeoutMs ?? 500,
      });
      cleanups.push(() => gw.close());
      return gw;
    },
    async service(options) {
      const svc = await connectService({ routes: benchRoutes(), ...options, reconnect: { initialDelayMs: 20, maxDelayMs: 200, ...options.reconnect } });
      cleanups.push(() => svc.close());
      return svc;
    },
    async client(url, options = {}) {
      const c = await connect({ url, ...options });
      cleanups.push(() => c.close());
      return c;
    },
    async raw(url) {
      const conn = await establish(nodeTransport, { url });
      cleanups.push(() => conn.close());
      return conn;
    },
    async benchProcess(url, instance) {
      const child = startChild({ name: instance, args: ['service', 'bench', '--url', url, '--instance', instance], env: { SLUICE_LOG_LEVEL: 'silent' } }, 'ignore');
      cleanups.push(() => child.stop(2_000));
      await child.message('registered', 20_000);
      return child;
    },
    onCleanup(fn) {
      cleanups.push(fn);
    },
  };
  return h;
}

export function jsonPayload(route: string, data: unknown): Payload {
  return { data: encodeJson(data), metadata: routeMetadata(route) };
}

export function json<T = any>(p: Payload): T {
  return decodeJson(p.data) as T;
}

/** Resolves once `fn()` is truthy, checking after each `step()`; fails after `attempts`. For conditions with no event to wait on. */
export async function eventually<T>(fn: () => Promise<T | undefined | false> | T | undefined | false, what: string, attempts = 200, waitMs = 25): Promise<T> {
  for (let i = 0; i < attempts; i++) {
    const v = await fn();
    if (v) return v;
    await new Promise((r) => setTimeout(r, waitMs));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** A stream handler that records everything, for bare-connection tests. */
export function recorder() {
  const items: Payload[] = [];
  const requested: number[] = [];
  let resolveEnd: (v: { error?: any }) => void = () => {};
  const ended = new Promise<{ error?: any }>((r) => (resolveEnd = r));
  const waiters: Array<{ n: number; resolve: () => void }> = [];
  const check = () => {
    for (const w of [...waiters]) if (items.length >= w.n) {
      waiters.splice(waiters.indexOf(w), 1);
      w.resolve();
    }
  };
  return {
    items,
    ended,
    /** REQUEST_N grants received (channels). */
    requested,
    /** Resolves when at least n items arrived. */
    received(n: number): Promise<void> {
      return new Promise((resolve) => {
        waiters.push({ n, resolve });
        check();
      });
    },
    handler: {
      onNext(p: Payload) {
        items.push({ data: p.data?.slice() ?? null, metadata: p.metadata?.slice() ?? null });
        check();
      },
      onComplete() {
        resolveEnd({});
      },
      onError(error: any) {
        resolveEnd({ error });
      },
      onRequest(n: number) {
        requested.push(n);
      },
      onCancel() {},
    },
  };
}

export async function metricsText(gw: Gateway): Promise<string> {
  return (await fetch(`${gw.adminUrl}/metrics`)).text();
}

export function metricValue(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const m = /^([a-z_]+)(\{[^}]*\})? (.+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const ls = Object.fromEntries([...(m[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1], x[2]]));
    if (Object.entries(labels).every(([k, v]) => ls[k] === v)) return Number(m[3]);
  }
  return undefined;
}

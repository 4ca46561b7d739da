/**
 * The gateway's broker (createBroker: the production SETUP checks, registry,
 * policies and forwarder) on in-memory transports, for unit tests of the
 * forwarding path: services are bare client-role Connections whose responder
 * the test scripts, requesters are bare Connections, and every number the
 * invariants need (live interactions, instance and per-route counters,
 * bulkhead slots) is reachable directly.
 */
import { createBroker } from '../../src/broker/broker.js';
import type { Instance } from '../../src/broker/registry.js';
import { resolveGatewayConfig } from '../../src/config.js';
import type { DeadLetterSink } from '../../src/deadletter/rules.js';
import { SluiceError } from '../../src/errors.js';
import { silentLogger } from '../../src/observability/log.js';
import type { Clock } from '../../src/resilience/clock.js';
import type { Payload } from '../../src/protocol/frames.js';
import { MimeTypes, encodeComposite, routeMetadata, type MetadataEntry } from '../../src/protocol/metadata.js';
import { registrationEntry } from '../../src/protocol/registration.js';
import { Connection, refusingResponder, type ConnectionLimits, type Responder } from '../../src/rsocket/connection.js';
import type { InteractionModel, Stream, StreamHandler } from '../../src/rsocket/stream.js';
import { memoryPair, type MemoryTransport } from './memory-transport.js';

const MIME = { metadataMimeType: MimeTypes.COMPOSITE, dataMimeType: MimeTypes.JSON };
const text = (b: Uint8Array | null | undefined) => (b ? new TextDecoder().decode(b) : null);

/** Records every event of one stream, in order. */
export interface Events extends StreamHandler {
  readonly events: string[];
  /** The message of every error, in order. */
  readonly messages: string[];
}

export function events(): Events {
  const list: string[] = [];
  const messages: string[] = [];
  return {
    events: list,
    messages,
    onNext: (p) => void list.push(`next:${text(p.data)}`),
    onComplete: () => void list.push('complete'),
    onError: (e) => {
      list.push(`error:${e.code}`);
      messages.push(e.message);
    },
    onRequest: (n) => void list.push(`request:${n}`),
    onCancel: () => void list.push('cancel'),
  };
}

/** One request as a scripted service saw it. */
export interface Served {
  readonly model: InteractionModel;
  readonly data: string | null;
  readonly metadata: Uint8Array | null;
  readonly complete: boolean;
  readonly stream: Stream;
  readonly handler: Events;
}

export interface ScriptedService {
  readonly served: Served[];
  /** Fire-and-forget payloads received, as text. */
  readonly fnf: string[];
  readonly connection: Connection;
  readonly transport: MemoryTransport;
  /** The gateway's end of this service's connection (pause() it to make the service stop reading). */
  readonly gatewaySide: Connection;
  readonly gatewayTransport: MemoryTransport;
  readonly instance: () => Instance;
}

export interface MemoryGatewayOptions {
  policies?: unknown;
  window?: number;
  windowBytes?: number;
  /** Items asked ahead of a consumer's demand, per stream. Default 0 (the gateway's default is 256): demand passes through, so tests can count it exactly. */
  prefetch?: number;
  prefetchBudgetBytes?: number;
  deadLetter?: DeadLetterSink;
  limits?: Partial<ConnectionLimits>;
  /** Time source of breakers, budgets and rate limits. */
  clock?: Clock;
}

export function memoryGateway(options: MemoryGatewayOptions = {}) {
  const limits = options.limits ?? {};
  const config = resolveGatewayConfig({
    policies: options.policies ?? {},
    flow: {
      window: options.window ?? 512,
      // Wide enough that the byte window never binds before the item window (512 items of up to maxPayloadSize).
      windowBytes: options.windowBytes ?? 64 * 1024 * 1024,
      prefetch: options.prefetch ?? 0,
      ...(options.prefetchBudgetBytes !== undefined ? { prefetchBudgetBytes: options.prefetchBudgetBytes } : {}),
    },
    limits: {
      // Tests drive time with fake timers: idle clients are not closed under them.
      idleTimeoutMs: 0,
      ...(limits.maxInboundStreams !== undefined ? { maxStreamsPerConnection: limits.maxInboundStreams } : {}),
      ...(limits.maxOutboundStreams !== undefined ? { maxStreamsPerInstance: limits.maxOutboundStreams } : {}),
      maxPayloadSize: limits.maxPayloadSize ?? 64 * 1024,
      ...(limits.outboundHighWater !== undefined ? { outboundHighWater: limits.outboundHighWater } : {}),
      ...(limits.outboundHardLimit !== undefined ? { outboundHardLimit: limits.outboundHardLimit } : {}),
      ...(limits.slowConsumerTimeoutMs !== undefined ? { slowConsumerTimeoutMs: limits.slowConsumerTimeoutMs } : {}),
      ...(limits.fragmentTimeoutMs !== undefined ? { fragmentTimeoutMs: limits.fragmentTimeoutMs } : {}),
    },
    keepAlive: { maxClientLifetimeMs: 3_600_000 },
  });
  const broker = createBroker(config, {
    log: silentLogger,
    defaultMetrics: false,
    ...(options.deadLetter ? { deadLetterSink: options.deadLetter } : {}),
    ...(options.clock ? { clock: options.clock } : {}),
  });
  const { registry, policies, metrics, forwarder } = broker;
  const connections: Connection[] = [];

  /** A client-role connection to the gateway; returns both ends. */
  const connect = (setupMetadata: MetadataEntry[] | undefined, responder: Responder) => {
    const [clientEnd, serverEnd] = memoryPair();
    const server = broker.accept(serverEnd);
    const client = Connection.connect(clientEnd, { ...MIME, metadata: setupMetadata ? encodeComposite(setupMetadata) : null }, responder);
    connections.push(client, server);
    return { client, server, clientEnd, serverEnd };
  };

  return {
    registry,
    policies,
    metrics,
    forwarder,

    /** A service instance whose requests are recorded; `act` may answer each as it arrives. */
    service(service: string, instance: string, routes: Array<string | { name: string; idempotent: boolean }>, act?: (s: Served) => void): ScriptedService {
      const served: Served[] = [];
      const fnf: string[] = [];
      const serve = (model: InteractionModel, payload: Payload, complete: boolean, stream: Stream): StreamHandler => {
        const s: Served = { model, data: text(payload.data), metadata: payload.metadata?.slice() ?? null, complete, stream, handler: events() };
        served.push(s);
        act?.(s);
        return s.handler;
      };
      const responder: Responder = {
        fireAndForget: (p) => void fnf.push(text(p.data) ?? ''),
        requestResponse: (p, s) => serve('response', p, false, s),
        requestStream: (p, s) => serve('stream', p, false, s),
        requestChannel: (p, c, s) => serve('channel', p, c, s),
      };
      const { client, clientEnd, server, serverEnd } = connect([registrationEntry({ service, instance, routes })], responder);
      return {
        served,
        fnf,
        connection: client,
        transport: clientEnd,
        gatewaySide: server,
        gatewayTransport: serverEnd,
        instance: () => {
          const found = registry.instances().find((i) => i.service === service && i.id === instance);
          if (!found) throw new Error(`instance ${service}/${instance} is not registered`);
          return found;
        },
      };
    },

    /** The gateway accepts a connection on `transport`; the test plays the peer on its other end (e.g. with `rawPeer`). */
    attach(transport: MemoryTransport): Connection {
      const server = broker.accept(transport);
      connections.push(server);
      return server;
    },

    /**
     * A bare requester connection. An `identity` is sent as simple
     * authentication in SETUP, which is what the gateway identifies a client
     * by when auth is off; requesters without one share their (in-memory) address.
     */
    requester(identity?: string) {
      const { client, clientEnd, server, serverEnd } = connect(identity === undefined ? undefined : [simpleAuth(identity)], refusingResponder);
      return { connection: client, transport: clientEnd, gatewaySide: server, gatewayTransport: serverEnd };
    },

    /** Everything a finished burst must have given back. */
    leftovers() {
      const routes = [...policies.all()];
      return {
        live: forwarder.live.size,
        instanceActive: registry.instances().reduce((n, i) => n + i.active, 0),
        routeActive: routes.reduce((n, rt) => n + registry.instances().reduce((m, i) => m + rt.activeOn(i), 0), 0),
        bulkheadActive: routes.reduce((n, rt) => n + rt.bulkhead.active, 0),
        bulkheadQueued: routes.reduce((n, rt) => n + rt.bulkhead.queued, 0),
        shareHolders: routes.reduce((n, rt) => n + rt.share.identities, 0),
        prefetchHeldBytes: forwarder.prefetchBudget.held,
      };
    },

    broker,

    close() {
      for (const c of connections) c.close();
      void broker.close();
    },
  };
}

/** message/x.rsocket.authentication.v0, simple: the user name and an empty password. */
function simpleAuth(user: string): MetadataEntry {
  const name = new TextEncoder().encode(user);
  const content = new Uint8Array(1 + 2 + name.length + 0);
  content[0] = 0x80; // well-known auth type 0: simple
  content[1] = name.length >> 8;
  content[2] = name.length & 0xff;
  content.set(name, 3);
  return { mimeType: MimeTypes.AUTHENTICATION, content };
}

export function request(route: string, data: unknown, metadata: MetadataEntry[] = []): Payload {
  return { data: new TextEncoder().encode(JSON.stringify(data)), metadata: routeMetadata(route, metadata) };
}

export function failWith(code: ConstructorParameters<typeof SluiceError>[0], message = 'scripted failure'): SluiceError {
  return new SluiceError(code, message);
}

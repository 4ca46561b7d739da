/**
 * The README's rsocket-js recipe, as code CI runs (test/integration/rsocket-js-recipe.test.ts):
 * an rsocket-js 1.0 `RSocketConnector` calling a route through the gateway, and an rsocket-js
 * responder registering as a service. No Sluice code: plain RSocket over WebSocket, routing and
 * registration in composite metadata, an optional bearer token in SETUP. The README shows this
 * file from the marker below; the test fails if the two differ.
 */
// --- recipe ---
import { RSocketConnector, type RSocket } from 'rsocket-core';
import { WebsocketClientTransport } from 'rsocket-websocket-client';
import { WellKnownMimeType, encodeBearerAuthMetadata, encodeCompositeMetadata, encodeRoute } from 'rsocket-composite-metadata';
import WebSocket from 'ws'; // Node; in a browser use globalThis.WebSocket

const COMPOSITE = WellKnownMimeType.MESSAGE_RSOCKET_COMPOSITE_METADATA.string;
const REGISTRATION = 'application/x.sluice.registration+json';

/** Connects to the gateway; `token` (a JWT) goes in SETUP, `registration` makes this connection a service. */
export function connectToGateway(url: string, options: { token?: string; registration?: object; responder?: Partial<RSocket> } = {}): Promise<RSocket> {
  const entries: Array<[WellKnownMimeType | string, Buffer]> = [];
  if (options.token) entries.push([WellKnownMimeType.MESSAGE_RSOCKET_AUTHENTICATION, encodeBearerAuthMetadata(options.token)]);
  if (options.registration) entries.push([REGISTRATION, Buffer.from(JSON.stringify(options.registration))]);
  return new RSocketConnector({
    setup: {
      dataMimeType: 'application/json',
      metadataMimeType: COMPOSITE,
      keepAlive: 10_000,
      lifetime: 30_000,
      payload: { data: null, metadata: entries.length ? encodeCompositeMetadata(entries) : undefined },
    },
    transport: new WebsocketClientTransport({ url, wsCreator: (u) => new WebSocket(u) as unknown as globalThis.WebSocket }),
    ...(options.responder ? { responder: options.responder } : {}),
  }).connect();
}

/** A client: request-response on `route` with a JSON body. */
export function call(rsocket: RSocket, route: string, body: unknown): Promise<unknown> {
  const metadata = encodeCompositeMetadata([[WellKnownMimeType.MESSAGE_RSOCKET_ROUTING, encodeRoute(route)]]);
  return new Promise((resolve, reject) =>
    rsocket.requestResponse(
      { data: Buffer.from(JSON.stringify(body)), metadata },
      { onNext: (p) => resolve(JSON.parse(p.data!.toString('utf8'))), onError: reject, onComplete: () => {}, onExtension: () => {} },
    ),
  );
}

/** A service: registers `greeter.hello` (with auth on, its token must grant `service: 'greeter', register: ['greeter.*']`). */
export function serveGreeter(url: string, token?: string): Promise<RSocket> {
  return connectToGateway(url, {
    ...(token ? { token } : {}),
    registration: { service: 'greeter', instance: 'greeter-1', routes: ['greeter.hello'] },
    responder: {
      requestResponse(payload, responder) {
        const { name } = JSON.parse(payload.data!.toString('utf8')) as { name: string };
        responder.onNext({ data: Buffer.from(JSON.stringify({ greeting: `hello, ${name}` })) }, true);
        return { cancel() {}, onExtension() {} };
      },
    },
  });
}

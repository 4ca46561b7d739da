/**
 * rsocket-js 1.0 as a foreign peer for the interop tests: an independent
 * RSocket implementation (no Sluice code) connecting to the gateway over
 * WebSocket with composite metadata, and its routing metadata.
 */
import { WebSocket } from 'ws';
import { RSocketConnector, type Payload, type RSocket } from 'rsocket-core';
import { WebsocketClientTransport } from 'rsocket-websocket-client';
import { WellKnownMimeType, encodeCompositeMetadata, encodeRoute } from 'rsocket-composite-metadata';

export interface JsConnectOptions {
  /** SETUP's data MIME type; default application/json. */
  readonly dataMimeType?: string;
  /** SETUP's composite metadata (a registration, a bearer token). */
  readonly setupMetadata?: Buffer;
  /** What this peer answers: makes it a service once registered. */
  readonly responder?: Partial<RSocket>;
}

/** An rsocket-js connection to `url` (keepalive 10 s, lifetime 30 s). */
export function jsConnect(url: string, options: JsConnectOptions = {}): Promise<RSocket> {
  return new RSocketConnector({
    setup: {
      dataMimeType: options.dataMimeType ?? 'application/json',
      metadataMimeType: WellKnownMimeType.MESSAGE_RSOCKET_COMPOSITE_METADATA.string,
      keepAlive: 10_000,
      lifetime: 30_000,
      ...(options.setupMetadata ? { payload: { data: null, metadata: options.setupMetadata } } : {}),
    },
    transport: new WebsocketClientTransport({ url, wsCreator: (u) => new WebSocket(u) as unknown as globalThis.WebSocket }),
    ...(options.responder ? { responder: options.responder } : {}),
  }).connect();
}

/** Composite metadata routing to `route`, with a per-stream data MIME entry when `mime` is given. */
export function jsRoute(route: string, mime?: Buffer): Buffer {
  return encodeCompositeMetadata([[WellKnownMimeType.MESSAGE_RSOCKET_ROUTING, encodeRoute(route)], ...(mime ? [[WellKnownMimeType.MESSAGE_RSOCKET_MIMETYPE, mime] as [WellKnownMimeType, Buffer]] : [])]);
}

/** rsocket-js request-response as a promise of the answer's payload. */
export function jsRequestResponse(rs: RSocket, payload: Payload): Promise<Payload> {
  return new Promise((resolve, reject) => rs.requestResponse(payload, { onNext: (p) => resolve(p), onError: reject, onComplete: () => {}, onExtension: () => {} }));
}

/** The isomorphic client API: what both the Node and the browser entries export. */
export { Client, connectWith } from './connect.js';
export type { ClientOptions, ConnectionStatus } from './connect.js';
export { SluiceClient, defaultFailover } from './client.js';
export type { CallOptions, RequestOptions, StreamOptions, ChannelOptions, ConnectionSource, FailoverOptions } from './client.js';
export { MAX_GATEWAY_URLS } from './gateway-urls.js';
export type { FirstUrl } from './gateway-urls.js';
export type { ConnectOptions } from './connector.js';
export type { ReconnectOptions } from './reconnect.js';
export { tokenExpiry } from './token.js';
export type { TokenProvider, TokenSource } from './token.js';
export type { TokenRefreshOptions } from './token-refresh.js';
export type { TlsClientOptions, TransportFactory, TransportOptions } from './transport.js';
export { SluiceError, ErrorCodes, WireCode, isSluiceError } from '../errors.js';
export type { ErrorCode } from '../errors.js';
export { MimeTypes, routeMetadata, encodeComposite, decodeComposite } from '../protocol/metadata.js';
export type { MetadataEntry } from '../protocol/metadata.js';
export { TRACE_CONTEXT_MIME, traceContextEntry, readTraceContext, parseTraceparent, formatTraceparent } from '../protocol/trace-context.js';
export type { TraceContext, ParsedTraceparent } from '../protocol/trace-context.js';

/**
 * Node transports: `ws://` / `wss://` (the `ws` package's handshake, then
 * Sluice's own framing: ClientWebSocketTransport), `tcp://host:port`
 * with node:net and `tls://host:port` with node:tls. For `wss://` and
 * `tls://`, `options.tls.ca` replaces the system's trust (a self-signed or
 * private-CA gateway certificate).
 */
import { connect as tcpConnect } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { SluiceError } from '../errors.js';
import { TcpTransport } from './tcp-transport.js';
import { ClientWebSocketTransport, HandshakeOnlyWebSocket } from './ws-socket-transport.js';
import type { FrameTransport } from '../rsocket/transport.js';
import type { TransportOptions } from '../client/transport.js';
import { connectWith, type Client, type ClientOptions } from '../client/connect.js';

/** Largest frame a Node client accepts, in bytes (the gateway's default maxFrameSize). */
export const CLIENT_MAX_FRAME = 2 * 1024 * 1024;

/** Connects to a gateway from Node over `ws://`, `wss://`, `tcp://` or `tls://`; see `ClientOptions`. */
export function connect(options: ClientOptions): Promise<Client> {
  return connectWith(nodeTransport, options);
}

export function nodeTransport(url: string, options: TransportOptions = {}): Promise<FrameTransport> {
  const parsed = new URL(url);
  const ca = options.tls?.ca as string | Buffer | Array<string | Buffer> | undefined;
  if (parsed.protocol === 'tcp:' || parsed.protocol === 'tls:') return openTcp(parsed.protocol === 'tls:', parsed.hostname, Number(parsed.port), ca);
  if (parsed.protocol === 'ws:' || parsed.protocol === 'wss:') return openWebSocket(url, ca);
  return Promise.reject(new SluiceError('INVALID_ARGUMENT', `unsupported URL scheme '${parsed.protocol}' (use ws://, wss://, tcp:// or tls://)`));
}

function openWebSocket(url: string, ca: string | Buffer | Array<string | Buffer> | undefined): Promise<FrameTransport> {
  return new Promise((resolve, reject) => {
    const ws = new HandshakeOnlyWebSocket(url, { perMessageDeflate: false, maxPayload: CLIENT_MAX_FRAME, ...(ca ? { ca } : {}) });
    const onError = (err: Error) => reject(unavailable(url, err));
    ws.once('error', onError);
    ws.once('taken', () => {
      ws.off('error', onError);
      resolve(new ClientWebSocketTransport(ws.takenSocket!, ws.takenHead, url, CLIENT_MAX_FRAME));
    });
  });
}

function openTcp(secure: boolean, host: string, port: number, ca: string | Buffer | Array<string | Buffer> | undefined): Promise<FrameTransport> {
  const url = `${secure ? 'tls' : 'tcp'}://${host}:${port}`;
  return new Promise((resolve, reject) => {
    const address = { host: host.replace(/^\[|\]$/g, ''), port };
    const socket = secure ? tlsConnect({ ...address, ...(ca ? { ca } : {}) }) : tcpConnect(address);
    const onError = (err: Error) => reject(unavailable(url, err));
    socket.once('error', onError);
    socket.once(secure ? 'secureConnect' : 'connect', () => {
      socket.off('error', onError);
      resolve(new TcpTransport(socket, CLIENT_MAX_FRAME));
    });
  });
}

/** Certificate errors name the way out (a CA option); others say what failed. */
function unavailable(url: string, err: Error): SluiceError {
  const code = (err as NodeJS.ErrnoException).code ?? '';
  const untrusted = /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|UNABLE_TO_GET_ISSUER/.test(code);
  const hint = untrusted ? ' (the gateway\'s certificate is not trusted: pass its CA, tls: { ca } or --ca FILE)' : '';
  return new SluiceError('UNAVAILABLE', `cannot open ${url}: ${err.message}${hint}`, { cause: err });
}

/**
 * Which URLs the gateway will POST webhooks to. A webhook makes the gateway
 * send requests to an address a caller chose, so without limits it is a way
 * into the gateway's network (SSRF: cloud metadata at 169.254.169.254, admin
 * ports on loopback, internal services). Only http(s) URLs without
 * credentials, only hosts on `webhooks.allowedHosts`, and never loopback,
 * private or link-local addresses unless configured, checked at subscribe
 * and again on every delivery against the addresses the name resolves to
 * then (a name that resolved to a public address at subscribe time may
 * resolve to 127.0.0.1 later: DNS rebinding).
 */
import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { BlockList, isIP, type LookupFunction } from 'node:net';
import { SluiceError } from '../errors.js';

export interface EndpointPolicyOptions {
  /** Host names (`hooks.example.com`), suffix patterns (`*.example.com`) or `*` (any host). */
  allowedHosts: readonly string[];
  /** Loopback addresses (127.0.0.0/8, ::1) allowed. */
  allowLoopback: boolean;
  /** Private, link-local and unique-local addresses allowed (10/8, 172.16/12, 192.168/16, 169.254/16, fc00::/7, fe80::/10, 100.64/10). */
  allowPrivate: boolean;
}

const loopback = new BlockList();
loopback.addSubnet('127.0.0.0', 8, 'ipv4');
loopback.addAddress('::1', 'ipv6');
loopback.addSubnet('::ffff:127.0.0.0', 104, 'ipv6');

const internal = new BlockList();
for (const [net, prefix] of [['0.0.0.0', 8], ['10.0.0.0', 8], ['100.64.0.0', 10], ['169.254.0.0', 16], ['172.16.0.0', 12], ['192.168.0.0', 16], ['224.0.0.0', 3]] as const) internal.addSubnet(net, prefix, 'ipv4');
for (const [net, prefix] of [['fc00::', 7], ['fe80::', 10], ['::', 128], ['ff00::', 8], ['::ffff:0:0', 96]] as const) internal.addSubnet(net, prefix, 'ipv6');

export class EndpointPolicy {
  constructor(private readonly options: EndpointPolicyOptions) {}

  /** The URL as it will be used. Throws INVALID_ARGUMENT (not a URL, scheme, credentials) or PERMISSION_DENIED (host not allowed). */
  check(raw: unknown): URL {
    if (typeof raw !== 'string' || raw.length === 0 || raw.length > 2048) throw new SluiceError('INVALID_ARGUMENT', "'url' must be an http(s) URL of at most 2048 characters");
    let url: URL;
    try {
      url = new URL(raw);
    } catch {
      throw new SluiceError('INVALID_ARGUMENT', `'url' ${JSON.stringify(raw)} is not a URL`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new SluiceError('INVALID_ARGUMENT', `'url' must be http or https, got ${url.protocol.replace(/:$/, '')}`);
    if (url.username || url.password) throw new SluiceError('INVALID_ARGUMENT', "'url' must not carry credentials; deliveries are signed instead");
    const host = hostOf(url);
    if (!this.hostAllowed(host)) throw new SluiceError('PERMISSION_DENIED', `webhook host '${host}' is not in webhooks.allowedHosts`);
    if (isIP(host)) this.checkAddress(host, host);
    return url;
  }

  /** Throws PERMISSION_DENIED when `address` (what `host` resolved to) is loopback or internal and that is not allowed. */
  checkAddress(address: string, host: string): void {
    const family = isIP(address) === 6 ? 'ipv6' : 'ipv4';
    if (loopback.check(address, family)) {
      if (!this.options.allowLoopback) throw new SluiceError('PERMISSION_DENIED', `webhook host '${host}' is a loopback address (${address}); set webhooks.allowLoopback to allow it`);
      return;
    }
    if (internal.check(address, family) && !this.options.allowPrivate) {
      throw new SluiceError('PERMISSION_DENIED', `webhook host '${host}' is a private, link-local or reserved address (${address}); set webhooks.allowPrivate to allow it`);
    }
  }

  /** A DNS lookup for http(s).request that refuses addresses the policy does not allow (checked per connection). */
  readonly lookup: LookupFunction = (hostname, options, callback) => {
    dnsLookup(hostname, { ...options, all: true }, (err, addresses) => {
      if (err) return callback(err, '', 4);
      const list = addresses as LookupAddress[];
      try {
        for (const a of list) this.checkAddress(a.address, hostname);
      } catch (refusal) {
        return callback(refusal as NodeJS.ErrnoException, '', 4);
      }
      if ((options as { all?: boolean }).all) (callback as unknown as (e: null, a: LookupAddress[]) => void)(null, list);
      else callback(null, list[0]!.address, list[0]!.family);
    });
  };

  private hostAllowed(host: string): boolean {
    return this.options.allowedHosts.some((p) => p === '*' || p.toLowerCase() === host || (p.startsWith('*.') && host.endsWith(p.slice(1).toLowerCase())));
  }
}

/** The URL's host without IPv6 brackets, lower-case. */
export function hostOf(url: URL): string {
  return url.hostname.replace(/^\[(.*)\]$/, '$1').toLowerCase();
}

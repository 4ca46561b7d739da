/**
 * Open sockets per remote address, so one host cannot take every connection
 * slot of the gateway. Sockets are counted from the moment the listener
 * accepts them (before the TLS handshake and the WebSocket upgrade) until
 * they close, so half-open handshakes count too.
 *
 * IPv6 addresses count per /64: one host usually owns a whole /64 and could
 * otherwise pick a fresh address for every socket. IPv4-mapped IPv6
 * addresses count as their IPv4 address.
 */
import { isIPv6 } from 'node:net';

export interface CountedSocket {
  readonly remoteAddress?: string | undefined;
  once(event: 'close', listener: () => void): unknown;
}

export class AddressLimiter {
  /** Open sockets per address key; an entry is removed when its count reaches 0, so the map holds only live addresses. */
  private readonly open = new Map<string, number>();

  /** @param maxPerAddress sockets one address may hold open at once (limits.maxConnectionsPerAddress). */
  constructor(private readonly maxPerAddress: number) {}

  /**
   * Counts `socket` until it closes. Returns false when its address already
   * held `maxPerAddress` sockets: the caller refuses it (it stays counted
   * until it closes, which the refusal makes immediate).
   */
  track(socket: CountedSocket): boolean {
    const key = addressKey(socket.remoteAddress);
    const n = (this.open.get(key) ?? 0) + 1;
    this.open.set(key, n);
    socket.once('close', () => {
      const left = (this.open.get(key) ?? 1) - 1;
      if (left <= 0) this.open.delete(key);
      else this.open.set(key, left);
    });
    return n <= this.maxPerAddress;
  }

  /** True when the address of `remoteAddress` holds more than its share (the socket asking included). */
  over(remoteAddress: string | undefined): boolean {
    return (this.open.get(addressKey(remoteAddress)) ?? 0) > this.maxPerAddress;
  }

  /** Open sockets of `remoteAddress`'s key. */
  count(remoteAddress: string | undefined): number {
    return this.open.get(addressKey(remoteAddress)) ?? 0;
  }
}

/** The key sockets are counted under: the IPv4 address, or the IPv6 /64 prefix. */
export function addressKey(address: string | undefined): string {
  if (!address) return '?';
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return mapped[1]!;
  if (!isIPv6(address)) return address;
  return `${expandIPv6(address).slice(0, 4).join(':')}::/64`;
}

function expandIPv6(address: string): string[] {
  const [head = '', tail] = address.split('%')[0]!.split('::') as [string, string | undefined];
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  const fill = tail === undefined ? [] : Array.from({ length: 8 - left.length - right.length }, () => '0');
  return [...left, ...fill, ...right].map((g) => g.toLowerCase().replace(/^0+(?=.)/, ''));
}

/**
 * How many HTTP bridge requests and event streams run at once, overall and
 * per remote address (IPv4 address or IPv6 /64, as connections are counted):
 * one host cannot take every slot, and the gateway as a whole holds a known
 * number. Beyond either, the request is refused at once (the bridge answers
 * 503 overall, 429 per address, both OVERLOADED problems with Retry-After).
 */
import { SluiceError } from '../errors.js';
import { addressKey } from '../transport/address-limiter.js';

export class HttpAdmission {
  private total = 0;
  /** In flight per address key; an entry is removed at 0, so the map holds only live addresses. */
  private readonly perAddress = new Map<string, number>();
  /** Refusals since start, by reason, for /metrics. */
  readonly refused = { overall: 0, perAddress: 0 };

  /**
   * @param max requests and streams in flight at once (http.maxConcurrent).
   * @param maxPerAddress of them from one address (http.maxConcurrentPerAddress).
   */
  constructor(
    private readonly max: number,
    private readonly maxPerAddress: number,
  ) {}

  get inFlight(): number {
    return this.total;
  }

  /**
   * Takes a slot for a request from `remoteAddress`; the returned function
   * gives it back (once). Throws OVERLOADED (with `details.scope`) when full.
   */
  admit(remoteAddress: string | undefined): () => void {
    if (this.total >= this.max) {
      this.refused.overall++;
      throw new SluiceError('OVERLOADED', `the gateway serves ${this.max} HTTP requests and streams at once (http.maxConcurrent)`, { details: { scope: 'gateway' } });
    }
    const key = addressKey(remoteAddress);
    const n = this.perAddress.get(key) ?? 0;
    if (n >= this.maxPerAddress) {
      this.refused.perAddress++;
      throw new SluiceError('OVERLOADED', `this address has ${this.maxPerAddress} HTTP requests and streams in flight (http.maxConcurrentPerAddress)`, { details: { scope: 'address', retryAfterMs: 1000 } });
    }
    this.total++;
    this.perAddress.set(key, n + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.total--;
      const left = (this.perAddress.get(key) ?? 1) - 1;
      if (left <= 0) this.perAddress.delete(key);
      else this.perAddress.set(key, left);
    };
  }
}

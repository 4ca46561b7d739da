/**
 * The gateway's authority over who each connection is. At SETUP it turns the
 * bearer token (or its absence) into a Principal; it then holds that
 * principal's compiled Access for the life of the connection, replaces it on
 * a verified token refresh (METADATA_PUSH), and closes the connection when
 * its token expires unrefreshed. In open mode (no keys) every connection gets
 * the full grant and nothing is verified.
 */
import { timingSafeEqual } from 'node:crypto';
import { SluiceError } from '../errors.js';
import type { Logger } from '../observability/log.js';
import { MetadataError, decodeComposite, type MetadataEntry } from '../protocol/metadata.js';
import type { Connection } from '../rsocket/connection.js';
import { setLongTimeout } from '../resilience/long-timeout.js';
import { readBearer } from './bearer.js';
import type { Grant, Principal } from './grant.js';
import { Access, FULL_GRANT } from './permissions.js';
import type { TokenVerifier } from './verifier.js';

export interface AuthenticatorOptions {
  /** Undefined: open mode. */
  verifier: TokenVerifier | undefined;
  anonymous: { enabled: boolean; call: readonly string[] };
  /** A token is honoured this long past its `exp`, in ms (the verifier's tolerance). */
  clockSkewMs: number;
  /**
   * A random bearer token that never leaves the process: the gateway's own
   * loopback connection (dead-letter replay) presents it to get the
   * `internal` principal, which may call every route but not register or
   * administer.
   */
  internalToken: string;
  log: Logger;
  /** Open mode: the identity of a connection for rate limits (kept as it was before auth). */
  openIdentity(setupEntries: readonly MetadataEntry[], conn: Connection): string;
  /** On refresh: why the new principal may no longer hold what the connection holds (its registration), or undefined. */
  refreshRefusal?(conn: Connection, principal: Principal): string | undefined;
}

interface Session {
  access: Access;
  cancelExpiry: () => void;
  /** A refresh being verified; at most one, plus the latest token waiting behind it. */
  verifying: boolean;
  nextToken: string | undefined;
}

export class Authenticator {
  private readonly sessions = new WeakMap<Connection, Session>();
  private readonly internalToken: Uint8Array;

  constructor(private readonly options: AuthenticatorOptions) {
    this.internalToken = new TextEncoder().encode(options.internalToken);
  }

  /** True when tokens are verified. */
  get enabled(): boolean {
    return this.options.verifier !== undefined;
  }

  /**
   * The principal a SETUP stands for. Synchronous unless a token must be
   * verified. Throws (or rejects with) UNAUTHENTICATED saying why.
   */
  authenticate(entries: readonly MetadataEntry[], conn: Connection): Principal | Promise<Principal> {
    if (!this.options.verifier) return this.principalOf(undefined, conn.remoteAddress, () => this.options.openIdentity(entries, conn));
    return this.principalOf(readBearer(entries), conn.remoteAddress, () => '');
  }

  /**
   * The principal of one HTTP bridge request, by the same rules as a SETUP:
   * `token` from its `Authorization: Bearer` header (undefined without one).
   * `openIdentity` names the caller in open mode. Throws (or rejects with)
   * UNAUTHENTICATED saying why.
   */
  authenticateToken(token: string | undefined, remoteAddress: string, openIdentity: () => string): Principal | Promise<Principal> {
    return this.principalOf(token, remoteAddress, openIdentity);
  }

  private principalOf(token: string | undefined, remoteAddress: string, openIdentity: () => string): Principal | Promise<Principal> {
    const verifier = this.options.verifier;
    if (!verifier) return { id: openIdentity(), subject: 'open', anonymous: false, grant: FULL_GRANT, expiresAt: undefined };
    if (token === undefined) {
      if (!this.options.anonymous.enabled) {
        throw new SluiceError('UNAUTHENTICATED', 'a bearer token is required (composite metadata entry message/x.rsocket.authentication.v0, auth type bearer; over HTTP, an Authorization: Bearer header)');
      }
      return this.anonymous(remoteAddress);
    }
    if (this.isInternal(token)) return { id: 'internal:gateway', subject: 'internal', anonymous: false, grant: INTERNAL_GRANT, expiresAt: undefined };
    return verifier.verify(token);
  }

  /** Starts holding `principal` for `conn` until it closes. */
  attach(conn: Connection, principal: Principal): void {
    const session: Session = { access: new Access(principal), cancelExpiry: () => {}, verifying: false, nextToken: undefined };
    this.sessions.set(conn, session);
    this.armExpiry(conn, session);
    conn.onClose(() => session.cancelExpiry());
  }

  /** The connection's permissions; undefined before SETUP was accepted. */
  accessOf(conn: Connection): Access | undefined {
    return this.sessions.get(conn)?.access;
  }

  /**
   * A METADATA_PUSH from `conn`. An authentication entry is a token refresh;
   * anything else breaks the protocol (Sluice defines no other use) and ends
   * the connection with PROTOCOL_VIOLATION, so nothing is silently dropped.
   */
  metadataPush(conn: Connection, metadata: Uint8Array): void {
    let token: string | undefined;
    try {
      const entries = decodeComposite(metadata);
      token = readBearer(entries);
      if (token === undefined) {
        const kinds = entries.map((e) => e.mimeType).join(', ') || 'nothing';
        throw new SluiceError('PROTOCOL_VIOLATION', `METADATA_PUSH carries only a token refresh (an authentication entry with a bearer token); got ${kinds}`);
      }
    } catch (err) {
      const e = err instanceof MetadataError ? new SluiceError('PROTOCOL_VIOLATION', `METADATA_PUSH: ${err.message}`) : SluiceError.from(err);
      conn.close(e);
      return;
    }
    const session = this.sessions.get(conn);
    if (!session) return;
    if (!this.options.verifier) {
      conn.log.debug({}, 'token refresh ignored: auth is off');
      return;
    }
    if (session.verifying) {
      session.nextToken = token;
      return;
    }
    this.refresh(conn, session, token);
  }

  private refresh(conn: Connection, session: Session, token: string): void {
    session.verifying = true;
    this.options.verifier!.verify(token).then(
      (principal) => {
        session.verifying = false;
        if (!conn.isOpen) return;
        const current = session.access.principal;
        if (principal.subject !== current.subject) {
          conn.close(new SluiceError('UNAUTHENTICATED', `token refresh for subject '${principal.subject}' on a connection of '${current.subject}'`));
          return;
        }
        const refusal = this.options.refreshRefusal?.(conn, principal);
        if (refusal) {
          conn.close(new SluiceError('UNAUTHENTICATED', `token refresh: ${refusal}`));
          return;
        }
        session.cancelExpiry();
        session.access = new Access(principal);
        this.armExpiry(conn, session);
        conn.log.debug({ principal: principal.id, expiresAt: principal.expiresAt }, 'token refreshed');
        this.next(conn, session);
      },
      (err: unknown) => {
        session.verifying = false;
        const e = SluiceError.from(err);
        conn.close(new SluiceError('UNAUTHENTICATED', `token refresh: ${e.message}`, { cause: e }));
      },
    );
  }

  private next(conn: Connection, session: Session): void {
    const token = session.nextToken;
    session.nextToken = undefined;
    if (token !== undefined) this.refresh(conn, session, token);
  }

  private armExpiry(conn: Connection, session: Session): void {
    const expiresAt = session.access.principal.expiresAt;
    if (expiresAt === undefined) return;
    session.cancelExpiry = setLongTimeout(() => {
      conn.close(new SluiceError('UNAUTHENTICATED', `token expired at ${new Date(expiresAt).toISOString()}`));
    }, expiresAt + this.options.clockSkewMs - Date.now());
  }

  private anonymous(remoteAddress: string): Principal {
    const grant: Grant = { call: this.options.anonymous.call, service: undefined, register: [], admin: false };
    return { id: `anonymous:${addressOf(remoteAddress)}`, subject: 'anonymous', anonymous: true, grant, expiresAt: undefined };
  }

  private isInternal(token: string): boolean {
    const t = new TextEncoder().encode(token);
    return t.length === this.internalToken.length && timingSafeEqual(t, this.internalToken);
  }
}

const INTERNAL_GRANT: Grant = { call: ['*'], service: undefined, register: [], admin: false };

/** `127.0.0.1:5123` -> `127.0.0.1`; `::1:5123` -> `::1`. */
export function addressOf(remoteAddress: string): string {
  return remoteAddress.replace(/:\d+$/, '');
}
